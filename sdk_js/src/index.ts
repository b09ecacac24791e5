/**
 * Splitline for browsers and Node: the in-process assignment core and browser
 * mode. Node's sidecar fast-path client lives in "@splitline/sdk/node".
 */

export * from "./core/index.js";
export {
  DEFAULT_DEDUP_SIZE,
  ExposureDedup,
  SDK_VERSION,
  exposureFor,
  newEventId,
  type ExposureEvent,
  type OutcomeEvent,
} from "./events.js";
export {
  DEFAULT_BATCH_SIZE,
  DEFAULT_MAX_BUFFERED,
  DEFAULT_STORAGE_KEY,
  ExposureBuffer,
  MemoryStorage,
  type ExposureBufferOptions,
  type SendExposures,
  type StorageLike,
} from "./browser/buffer.js";
export { BrowserClient, type BrowserClientOptions, type CallContext } from "./browser/client.js";
