"""splitline.sidecar: the per-host daemon (DESIGN.md section 5, issue 4).

Config follower -> compiled index (swapped atomically) -> two doors on Unix
sockets (gRPC and the framed fast path) -> write-ahead spool -> Kafka shipper.
Modules: app (wiring), cli, follower, config_state, requests (pure request
logic), service, grpc_door, fastpath, spool, spool_format (the on-disk
contract), shipper, metrics.
"""
