/** Node entry point: everything in the main entry plus the sidecar fast-path client. */

export * from "./index.js";
export {
  CODE_INVALID_ARGUMENT,
  FastPathConnection,
  FastPathError,
  FrameDecoder,
  MAX_FRAME,
  encodeFrame,
  type FastPathOptions,
} from "./node/fastpath.js";
export { RemoteClient, SIDECAR_DOWN, fromResponse, type RemoteAssignment, type RemoteClientOptions } from "./node/remote.js";
