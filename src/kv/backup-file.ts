/**
 * Backup files on disk (the layout is backup-format.ts): written to `<file>.part`, fsynced,
 * read back and checked, then renamed into place, so the target path only ever holds a whole,
 * valid backup; and read back with every byte checked.
 */
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BackupEncoder, BackupFileError, readBackup, type BackupHeader, type BackupSummary, type BackupVisitor, type ByteSource } from './backup-format.js';

/** A snapshot as it arrives: its header, then its chunks of records. */
export interface BackupStream {
  readonly header: BackupHeader;
  readonly chunks: AsyncIterable<Uint8Array>;
}

/** Reads from a file in pieces of this size (a chunk larger than it is read in one go). */
const readAheadBytes = 1024 * 1024;

/**
 * Writes `stream` to `path` by way of `path.part`: every chunk is checked as it arrives, the
 * part file is fsynced and read back whole (checksum and counts) before it is renamed over
 * `path`, and the directory is fsynced after. On any failure (a bad stream, a full disk, a
 * cancelled download) the part file is removed and `path` is left as it was.
 */
export async function writeBackupFile(path: string, stream: BackupStream): Promise<BackupSummary> {
  const part = `${path}.part`;
  let handle: FileHandle | null = null;
  try {
    try {
      handle = await open(part, 'w');
    } catch (error) {
      throw new BackupFileError('unwritable', `${part}: cannot create it (${(error as Error).message})`, { cause: error });
    }
    const encoder = new BackupEncoder();
    await writeAll(handle, [encoder.header(stream.header)], part);
    for await (const chunk of stream.chunks) await writeAll(handle, encoder.chunk(chunk), part);
    await writeAll(handle, [encoder.trailer()], part);
    await handle.sync();
    await handle.close();
    handle = null;
    const summary = await readBackupFile(part);
    await rename(part, path);
    await syncDirectory(dirname(path));
    return summary;
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlink(part).catch(() => undefined);
    throw error;
  }
}

/**
 * Reads and checks the whole backup at `path` (see readBackup), handing the visitor its header
 * and records as it goes. Throws BackupFileError: 'not-found', 'unreadable', or what is wrong
 * with the content.
 */
export async function readBackupFile(path: string, visitor: BackupVisitor = {}): Promise<BackupSummary> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BackupFileError('not-found', `${path}: no such file`, { cause: error });
    throw new BackupFileError('unreadable', `${path}: cannot open it (${(error as Error).message})`, { cause: error });
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new BackupFileError('unreadable', `${path}: not a regular file`);
    return await readBackup(fileSource(handle, stats.size), path, visitor);
  } finally {
    await handle.close();
  }
}

/** A ByteSource over an open file of `size` bytes; every read returns bytes of its own. */
function fileSource(handle: FileHandle, size: number): ByteSource {
  let position = 0;
  let buffered = Buffer.alloc(0);
  const source: ByteSource = {
    get remainingBytes() {
      return size - position;
    },
    async read(length) {
      const out = Buffer.allocUnsafe(length);
      let filled = Math.min(length, buffered.byteLength);
      buffered.copy(out, 0, 0, filled);
      buffered = buffered.subarray(filled);
      const fileAt = position + filled + buffered.byteLength;
      if (filled < length && length - filled >= readAheadBytes) {
        filled += await readFully(handle, out.subarray(filled), fileAt);
      } else if (filled < length) {
        const ahead = Buffer.allocUnsafe(Math.min(readAheadBytes, size - fileAt));
        const got = await readFully(handle, ahead, fileAt);
        const take = Math.min(length - filled, got);
        ahead.copy(out, filled, 0, take);
        filled += take;
        buffered = ahead.subarray(take, got);
      }
      if (filled < length) throw new BackupFileError('truncated', `truncated: the file shrank while it was read (at byte ${position + filled})`);
      position += length;
      return out;
    },
  };
  return source;
}

async function readFully(handle: FileHandle, into: Buffer, at: number): Promise<number> {
  let got = 0;
  while (got < into.byteLength) {
    const { bytesRead } = await handle.read(into, got, into.byteLength - got, at + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

async function writeAll(handle: FileHandle, pieces: readonly Uint8Array[], path: string): Promise<void> {
  try {
    for (const piece of pieces) {
      let written = 0;
      while (written < piece.byteLength) {
        const { bytesWritten } = await handle.write(piece, written, piece.byteLength - written);
        written += bytesWritten;
      }
    }
  } catch (error) {
    throw new BackupFileError('unwritable', `${path}: write failed (${(error as Error).message})`, { cause: error });
  }
}

/** Makes a rename in `directory` durable (POSIX: the directory entry needs its own fsync). */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
