"""Generated protobuf and gRPC code for splitline/v1 (see proto/)."""
