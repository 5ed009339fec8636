/**
 * Named shared memory: the one module that touches koffi for it.
 *
 * POSIX (Linux, macOS): shm_open + ftruncate + mmap from libc. Windows:
 * CreateFileMappingW / OpenFileMappingW + MapViewOfFile from kernel32. Both behind
 * SharedMemoryBackend; an in-process backend (plain ArrayBuffers in a Map) lets the ring
 * and queue cores be tested without any native code.
 *
 * Lifetime: a region's `buffer` points at mapped memory. After close() it must not be
 * touched (the mapping is gone: a read would fault); the ring classes guard that.
 */
import koffi from 'koffi';
import { PersonaLiveError } from '../errors.js';
import { SHM_NAME_RULE, isValidShmName } from '../util/checks.js';

export interface SharedMemoryRegion {
  readonly name: string;
  /** Mapped length in bytes. */
  readonly size: number;
  /** The mapped bytes. Invalid after close(). */
  readonly buffer: ArrayBuffer;
  close(): void;
}

export interface CreateOptions {
  /** Refuse when an object of that name already exists (VCAM_BUSY-style ownership checks). */
  exclusive?: boolean;
}

export interface SharedMemoryBackend {
  readonly kind: 'posix' | 'windows' | 'in-process';
  /**
   * Creates (or, without `exclusive`, replaces) a named object of `size` bytes, zero-filled.
   * POSIX replaces by unlinking first, so readers of the old object keep a valid mapping
   * and notice its writer stopped. Windows cannot unlink: an existing mapping is reused
   * when large enough.
   * @throws PersonaLiveError SHM_FAILED, or with `exclusive` an error whose details.exists is true
   */
  create(name: string, size: number, options?: CreateOptions): SharedMemoryRegion;
  /**
   * Maps an existing object. Returns null when none has that name.
   * @throws PersonaLiveError SHM_FAILED when it exists but is smaller than `size` or cannot be mapped
   */
  open(name: string, size: number, options?: { writable?: boolean }): SharedMemoryRegion | null;
  /** Size in bytes of an existing object, null when there is none (Windows: null, unknown). */
  sizeOf(name: string): number | null;
  /** Removes the name (POSIX); mappings stay valid until closed. No-op on Windows. */
  unlink(name: string): void;
}

/** Names are plain: letters, digits, dot, dash, underscore (they become "/name" or "Local\\name"). */
export function checkSharedMemoryName(name: string): void {
  if (!isValidShmName(name)) {
    throw new PersonaLiveError('SHM_FAILED', `shared-memory name "${name}" is invalid: expected ${SHM_NAME_RULE}`, { name });
  }
}

/**
 * A region whose buffer cannot be reached after close(): `release` (unmap) runs once, and a
 * later access throws instead of touching unmapped memory.
 */
function guardedRegion(name: string, displayName: string, size: number, buffer: ArrayBuffer, release: () => void): SharedMemoryRegion {
  let current: ArrayBuffer | null = buffer;
  return {
    name,
    size,
    get buffer(): ArrayBuffer {
      if (!current) throw new PersonaLiveError('SHM_FAILED', `shared memory "${displayName}" was used after close()`, { name });
      return current;
    },
    close(): void {
      if (!current) return;
      current = null;
      release();
    },
  };
}

let defaultBackend: SharedMemoryBackend | null = null;

/** The backend for this platform (POSIX or Windows), created once. */
export function systemSharedMemory(): SharedMemoryBackend {
  if (!defaultBackend) defaultBackend = process.platform === 'win32' ? createWindowsBackend() : createPosixBackend();
  return defaultBackend;
}

// ---------------------------------------------------------------------------------------
// POSIX

interface PosixConstants {
  readonly O_RDONLY: number;
  readonly O_RDWR: number;
  readonly O_CREAT: number;
  readonly O_EXCL: number;
}

const POSIX_CONSTANTS: Record<string, PosixConstants> = {
  linux: { O_RDONLY: 0, O_RDWR: 2, O_CREAT: 0o100, O_EXCL: 0o200 },
  darwin: { O_RDONLY: 0, O_RDWR: 2, O_CREAT: 0x200, O_EXCL: 0x800 },
  freebsd: { O_RDONLY: 0, O_RDWR: 2, O_CREAT: 0x200, O_EXCL: 0x800 },
};
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const SEEK_END = 2;
const ENOENT = 2;
const EEXIST = 17;

function createPosixBackend(): SharedMemoryBackend {
  const constants = POSIX_CONSTANTS[process.platform];
  if (!constants) throw new PersonaLiveError('SHM_FAILED', `shared memory is not supported on ${process.platform}`);
  const libc = koffi.load(process.platform === 'darwin' ? 'libSystem.B.dylib' : 'libc.so.6');
  // macOS declares shm_open variadic; glibc takes the mode as a third fixed argument.
  const shmOpen = process.platform === 'darwin'
    ? libc.func('int shm_open(const char *name, int oflag, ...)')
    : libc.func('int shm_open(const char *name, int oflag, uint32_t mode)');
  const callShmOpen = (path: string, flags: number, mode: number): number =>
    process.platform === 'darwin' ? shmOpen(path, flags, 'int', mode) as number : shmOpen(path, flags, mode) as number;
  const shmUnlink = libc.func('int shm_unlink(const char *name)');
  const ftruncate = libc.func('int ftruncate(int fd, int64_t length)');
  const lseek = libc.func('int64_t lseek(int fd, int64_t offset, int whence)');
  const closeFd = libc.func('int close(int fd)');
  const mmap = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
  const munmap = libc.func('int munmap(void *addr, size_t length)');
  const strerror = libc.func('const char *strerror(int errnum)');

  const fail = (call: string, name: string, errno: number): PersonaLiveError =>
    new PersonaLiveError('SHM_FAILED', `${call}("/${name}") failed: ${strerror(errno) as string} (errno ${errno})`, { call, name, errno, exists: errno === EEXIST });

  const map = (name: string, fd: number, size: number, writable: boolean): SharedMemoryRegion => {
    const pointer = mmap(null, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    const errno = koffi.errno();
    // The mapping keeps the object alive; the descriptor is no longer needed.
    closeFd(fd);
    if (pointer === null || koffi.address(pointer) === 0xffffffffffffffffn) throw fail('mmap', name, errno);
    return guardedRegion(name, `/${name}`, size, koffi.view(pointer, size), () => munmap(pointer, size));
  };

  return {
    kind: 'posix',
    create(name, size, options = {}) {
      checkSharedMemoryName(name);
      const path = `/${name}`;
      if (!options.exclusive) shmUnlink(path);
      const fd = callShmOpen(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
      if (fd < 0) throw fail('shm_open', name, koffi.errno());
      if ((ftruncate(fd, size) as number) !== 0) {
        const errno = koffi.errno();
        closeFd(fd);
        shmUnlink(path);
        throw fail('ftruncate', name, errno);
      }
      return map(name, fd, size, true);
    },
    open(name, size, options = {}) {
      checkSharedMemoryName(name);
      const fd = callShmOpen(`/${name}`, options.writable ? constants.O_RDWR : constants.O_RDONLY, 0);
      if (fd < 0) {
        const errno = koffi.errno();
        if (errno === ENOENT) return null;
        throw fail('shm_open', name, errno);
      }
      const actual = Number(lseek(fd, 0, SEEK_END) as bigint | number);
      if (actual < size) {
        closeFd(fd);
        // Mapping past the end of the object would fault (SIGBUS) on first touch.
        throw new PersonaLiveError('SHM_FAILED', `shared memory "/${name}" is ${actual} bytes, expected at least ${size}`, { name, actual, expected: size });
      }
      return map(name, fd, size, options.writable === true);
    },
    sizeOf(name) {
      checkSharedMemoryName(name);
      const fd = callShmOpen(`/${name}`, constants.O_RDONLY, 0);
      if (fd < 0) return null;
      const actual = Number(lseek(fd, 0, SEEK_END) as bigint | number);
      closeFd(fd);
      return actual;
    },
    unlink(name) {
      checkSharedMemoryName(name);
      shmUnlink(`/${name}`);
    },
  };
}

// ---------------------------------------------------------------------------------------
// Windows (written to the documented kernel32 API; not run on this project's Linux CI)

const PAGE_READWRITE = 0x04;
const FILE_MAP_WRITE = 0x0002;
const FILE_MAP_READ = 0x0004;
const ERROR_ALREADY_EXISTS = 183;
const ERROR_FILE_NOT_FOUND = 2;

function createWindowsBackend(): SharedMemoryBackend {
  const kernel32 = koffi.load('kernel32.dll');
  const HANDLE = koffi.pointer('HANDLE', koffi.opaque());
  const createFileMapping = kernel32.func('__stdcall', 'CreateFileMappingW', HANDLE, ['intptr_t', 'void *', 'uint32_t', 'uint32_t', 'uint32_t', 'str16']);
  const openFileMapping = kernel32.func('__stdcall', 'OpenFileMappingW', HANDLE, ['uint32_t', 'int', 'str16']);
  const mapViewOfFile = kernel32.func('__stdcall', 'MapViewOfFile', 'void *', [HANDLE, 'uint32_t', 'uint32_t', 'uint32_t', 'size_t']);
  const unmapViewOfFile = kernel32.func('__stdcall', 'UnmapViewOfFile', 'int', ['void *']);
  const closeHandle = kernel32.func('__stdcall', 'CloseHandle', 'int', [HANDLE]);
  const getLastError = kernel32.func('__stdcall', 'GetLastError', 'uint32_t', []);

  const fail = (call: string, name: string, code: number): PersonaLiveError =>
    new PersonaLiveError('SHM_FAILED', `${call}("${name}") failed: Windows error ${code}`, { call, name, errno: code, exists: code === ERROR_ALREADY_EXISTS });

  const map = (name: string, handle: unknown, size: number, writable: boolean): SharedMemoryRegion => {
    const pointer = mapViewOfFile(handle, writable ? FILE_MAP_WRITE | FILE_MAP_READ : FILE_MAP_READ, 0, 0, size);
    if (!pointer) {
      const code = getLastError() as number;
      closeHandle(handle);
      throw fail('MapViewOfFile', name, code);
    }
    return guardedRegion(name, name, size, koffi.view(pointer, size), () => {
      unmapViewOfFile(pointer);
      // The handle kept the mapping alive for readers while this process ran.
      closeHandle(handle);
    });
  };

  return {
    kind: 'windows',
    create(name, size, options = {}) {
      checkSharedMemoryName(name);
      const handle = createFileMapping(-1, null, PAGE_READWRITE, Math.floor(size / 2 ** 32), size % 2 ** 32, name);
      const code = getLastError() as number;
      if (!handle) throw fail('CreateFileMappingW', name, code);
      if (code === ERROR_ALREADY_EXISTS && options.exclusive) {
        closeHandle(handle);
        throw fail('CreateFileMappingW', name, code);
      }
      return map(name, handle, size, true);
    },
    open(name, size, options = {}) {
      checkSharedMemoryName(name);
      const handle = openFileMapping(options.writable ? FILE_MAP_WRITE | FILE_MAP_READ : FILE_MAP_READ, 0, name);
      if (!handle) {
        const code = getLastError() as number;
        if (code === ERROR_FILE_NOT_FOUND) return null;
        throw fail('OpenFileMappingW', name, code);
      }
      return map(name, handle, size, options.writable === true);
    },
    sizeOf() {
      return null;
    },
    unlink() {
      // Windows mappings vanish with their last handle.
    },
  };
}

// ---------------------------------------------------------------------------------------
// In-process (tests, and a null transport)

/** A backend whose objects are ArrayBuffers in this process: same semantics, no OS calls. */
export function createInProcessSharedMemory(): SharedMemoryBackend {
  const objects = new Map<string, ArrayBuffer>();
  const region = (name: string, buffer: ArrayBuffer, size: number): SharedMemoryRegion => guardedRegion(name, name, size, buffer, () => {});
  return {
    kind: 'in-process',
    create(name, size, options = {}) {
      checkSharedMemoryName(name);
      if (options.exclusive && objects.has(name)) {
        throw new PersonaLiveError('SHM_FAILED', `shared memory "${name}" already exists`, { call: 'create', name, exists: true });
      }
      const buffer = new ArrayBuffer(size);
      objects.set(name, buffer);
      return region(name, buffer, size);
    },
    open(name, size) {
      checkSharedMemoryName(name);
      const buffer = objects.get(name);
      if (!buffer) return null;
      if (buffer.byteLength < size) {
        throw new PersonaLiveError('SHM_FAILED', `shared memory "${name}" is ${buffer.byteLength} bytes, expected at least ${size}`, { name, actual: buffer.byteLength, expected: size });
      }
      return region(name, buffer, size);
    },
    sizeOf(name) {
      return objects.get(name)?.byteLength ?? null;
    },
    unlink(name) {
      objects.delete(name);
    },
  };
}
