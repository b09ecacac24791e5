/**
 * The sidecar's fast path (assignment.proto): over a Unix socket, each message
 * is a uint32 big-endian length N, then N bytes of a serialized FastPathRequest
 * (client -> sidecar) or FastPathResponse (sidecar -> client). Requests are
 * pipelined on one connection; responses carry their request_id and may come in
 * any order. An unparseable frame gets a response with request_id 0 and an
 * error, then the server closes the connection. Frames above 4 MiB are refused.
 */

import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { connect, type Socket } from "node:net";
import {
  FastPathRequestSchema,
  FastPathResponseSchema,
  type FastPathResponse,
} from "../gen/splitline/v1/assignment_pb.js";

export const MAX_FRAME = 4 * 1024 * 1024;
export const CODE_DEADLINE_EXCEEDED = 4;
export const CODE_INVALID_ARGUMENT = 3;
export const CODE_UNAVAILABLE = 14;
export const CODE_INTERNAL = 13;

/** An error answered by the sidecar (a google.rpc.Code) or met on the way there. */
export class FastPathError extends Error {
  readonly code: number;
  readonly field: string;
  constructor(code: number, message: string, field = "") {
    super(field ? `${message} (${field})` : message);
    this.name = "FastPathError";
    this.code = code;
    this.field = field;
  }
}

export type RequestBody = MessageInitShape<typeof FastPathRequestSchema>["body"];

interface Pending {
  resolve: (response: FastPathResponse) => void;
  reject: (err: FastPathError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Encode one request as a frame. */
export function encodeFrame(requestId: bigint, body: RequestBody): Uint8Array {
  const payload = toBinary(FastPathRequestSchema, create(FastPathRequestSchema, { requestId, body }));
  const frame = new Uint8Array(4 + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length, false);
  frame.set(payload, 4);
  return frame;
}

/** Splits a byte stream into FastPathResponses. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  feed(data: Buffer): FastPathResponse[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    const out: FastPathResponse[] = [];
    let off = 0;
    while (this.buf.length - off >= 4) {
      const n = this.buf.readUInt32BE(off);
      if (n > MAX_FRAME) throw new FastPathError(CODE_INTERNAL, `response frame of ${n} bytes exceeds ${MAX_FRAME}`);
      if (this.buf.length - off - 4 < n) break;
      out.push(fromBinary(FastPathResponseSchema, this.buf.subarray(off + 4, off + 4 + n)));
      off += 4 + n;
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
    return out;
  }
}

export interface FastPathOptions {
  /** Per-call timeout (ms); default 1000. */
  timeoutMs?: number;
}

/**
 * One pipelined connection, (re)connected lazily. `call` resolves with the
 * response (an `error` body is turned into a rejected FastPathError).
 */
export class FastPathConnection {
  readonly path: string;
  readonly timeoutMs: number;
  private socket: Socket | null = null;
  private connecting: Promise<Socket> | null = null;
  private readonly pending = new Map<bigint, Pending>();
  private nextId = 1n;
  private closed = false;

  constructor(path: string, options: FastPathOptions = {}) {
    this.path = path;
    this.timeoutMs = options.timeoutMs ?? 1000;
  }

  private connect(): Promise<Socket> {
    if (this.socket !== null) return Promise.resolve(this.socket);
    if (this.connecting !== null) return this.connecting;
    this.connecting = new Promise<Socket>((resolve, reject) => {
      const socket = connect(this.path);
      const decoder = new FrameDecoder();
      socket.setNoDelay?.(true);
      socket.once("connect", () => {
        this.socket = socket;
        this.connecting = null;
        resolve(socket);
      });
      socket.on("data", (data: Buffer) => {
        let responses: FastPathResponse[];
        try {
          responses = decoder.feed(data);
        } catch (err) {
          this.fail(socket, err as FastPathError);
          return;
        }
        for (const r of responses) this.settle(r);
      });
      socket.on("error", (err) => {
        if (this.connecting !== null && this.socket === null) {
          this.connecting = null;
          reject(new FastPathError(CODE_UNAVAILABLE, `cannot connect to ${this.path}: ${err.message}`));
        }
        this.fail(socket, new FastPathError(CODE_UNAVAILABLE, `fast path ${this.path}: ${err.message}`));
      });
      socket.on("close", () => this.fail(socket, new FastPathError(CODE_UNAVAILABLE, "the sidecar closed the connection")));
    });
    return this.connecting;
  }

  private settle(response: FastPathResponse): void {
    if (response.requestId === 0n) {
      const e = response.body.case === "error" ? response.body.value : undefined;
      const err = new FastPathError(e?.code ?? CODE_INTERNAL, e?.message ?? "connection-level error", e?.field ?? "");
      if (this.socket !== null) this.fail(this.socket, err);
      return;
    }
    const p = this.pending.get(response.requestId);
    if (p === undefined) return; // timed out already
    this.pending.delete(response.requestId);
    clearTimeout(p.timer);
    if (response.body.case === "error") {
      const e = response.body.value;
      p.reject(new FastPathError(e.code, e.message, e.field));
    } else {
      p.resolve(response);
    }
  }

  /** Reject every pending call and drop the socket (the next call reconnects). */
  private fail(socket: Socket, err: FastPathError): void {
    if (this.socket === socket) this.socket = null;
    socket.destroy();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
  }

  /** Send one request and wait for its response. */
  async call(body: RequestBody): Promise<FastPathResponse> {
    if (this.closed) throw new FastPathError(CODE_UNAVAILABLE, "connection closed");
    const id = this.nextId++;
    const frame = encodeFrame(id, body);
    if (frame.length - 4 > MAX_FRAME) throw new FastPathError(CODE_INVALID_ARGUMENT, `request of ${frame.length - 4} bytes exceeds ${MAX_FRAME}`);
    const socket = await this.connect();
    return new Promise<FastPathResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) reject(new FastPathError(CODE_DEADLINE_EXCEEDED, `no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      socket.write(frame);
    });
  }

  /** Close the connection; pending calls are rejected. */
  close(): void {
    this.closed = true;
    const socket = this.socket;
    if (socket !== null) this.fail(socket, new FastPathError(CODE_UNAVAILABLE, "connection closed"));
    else for (const p of this.pending.values()) clearTimeout(p.timer);
  }
}
