import { TimeoutError } from './errors.js';

/** A stream that signals 'drain' when it can take more (a Node Writable, a gRPC call). */
interface DrainableStream {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

/**
 * Waits until `stream` drains (gRPC's flow control: the reader took what was buffered). Rejects
 * with TimeoutError after `stallMs` without it (a reader that stopped reading must not hold what
 * the writer holds open), with `signal`'s reason once it aborts, and when the stream closes or
 * fails first.
 */
export function waitForDrain(stream: DrainableStream, stallMs: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => finish(new TimeoutError(`the reader took no data for ${stallMs} ms`)), stallMs);
    timer.unref();
    const onDrain = (): void => finish(null);
    const onEnd = (): void => finish(new Error('the stream ended while data was waiting to be sent'));
    const onAbort = (): void => finish(signal.reason as Error);
    const finish = (error: Error | null): void => {
      clearTimeout(timer);
      stream.off('drain', onDrain);
      stream.off('close', onEnd);
      stream.off('error', onEnd);
      signal.removeEventListener('abort', onAbort);
      if (error === null) resolve();
      else reject(error);
    };
    stream.on('drain', onDrain);
    stream.on('close', onEnd);
    stream.on('error', onEnd);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
