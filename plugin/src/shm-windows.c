/*
 * Windows named shared memory: a pagefile-backed file mapping "Local\<name>".
 * See shm.h for the contract. Written to the documented kernel32 API; this file was not
 * built or run on this project's (Linux) CI.
 *
 * Windows has no unlink: the mapping lives while any handle or view is open. A writer
 * that starts while an old mapping of the name still exists reuses it if it is large
 * enough (the daemon's TypeScript backend does the same); readers notice a new writer
 * through the header's created_us.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "shm.h"

#include <stdio.h>
#include <string.h>

#define PL_SHM_WNAME_MAX 256

static bool make_wide_name(wchar_t *wide, const char *name, char *err, size_t err_size)
{
	if (!pl_shm_check_name(name, err, err_size))
		return false;
	/* The name is plain ASCII (checked above), so a widening copy is exact. */
	const wchar_t *prefix = L"Local\\";
	size_t i = 0;
	for (; prefix[i]; i++)
		wide[i] = prefix[i];
	for (const char *p = name; *p && i < PL_SHM_WNAME_MAX - 1; p++)
		wide[i++] = (wchar_t)(unsigned char)*p;
	wide[i] = 0;
	return true;
}

static enum pl_shm_result map_handle(struct pl_shm *shm, HANDLE mapping, const char *name, size_t size,
				     bool writable, char *err, size_t err_size)
{
	DWORD access = writable ? (FILE_MAP_READ | FILE_MAP_WRITE) : FILE_MAP_READ;
	void *addr = MapViewOfFile(mapping, access, 0, 0, size);
	if (!addr) {
		DWORD code = GetLastError();
		CloseHandle(mapping);
		snprintf(err, err_size, "MapViewOfFile(\"Local\\%s\", %zu bytes) failed: Windows error %lu", name, size,
			 (unsigned long)code);
		return PL_SHM_ERROR;
	}
	/* A view larger than the section fails above; a smaller section is reported as too small. */
	MEMORY_BASIC_INFORMATION info;
	if (VirtualQuery(addr, &info, sizeof(info)) == sizeof(info) && info.RegionSize < size) {
		UnmapViewOfFile(addr);
		CloseHandle(mapping);
		snprintf(err, err_size, "shared memory \"Local\\%s\" is %zu bytes, expected at least %zu", name,
			 (size_t)info.RegionSize, size);
		return PL_SHM_TOO_SMALL;
	}
	shm->addr = addr;
	shm->size = size;
	shm->writable = writable;
	shm->handle = mapping;
	return PL_SHM_OK;
}

enum pl_shm_result pl_shm_create(struct pl_shm *shm, const char *name, size_t size, char *err, size_t err_size)
{
	wchar_t wide[PL_SHM_WNAME_MAX];
	memset(shm, 0, sizeof(*shm));
	if (!make_wide_name(wide, name, err, err_size))
		return PL_SHM_ERROR;

	uint64_t size64 = (uint64_t)size;
	HANDLE mapping = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, (DWORD)(size64 >> 32),
					    (DWORD)(size64 & 0xffffffffu), wide);
	if (!mapping) {
		snprintf(err, err_size, "CreateFileMappingW(\"Local\\%s\", %zu bytes) failed: Windows error %lu", name,
			 size, (unsigned long)GetLastError());
		return PL_SHM_ERROR;
	}
	bool existed = GetLastError() == ERROR_ALREADY_EXISTS;
	enum pl_shm_result result = map_handle(shm, mapping, name, size, true, err, err_size);
	if (result == PL_SHM_OK && existed)
		memset(shm->addr, 0, size); /* a reused mapping starts zero-filled like a fresh one */
	return result;
}

enum pl_shm_result pl_shm_open(struct pl_shm *shm, const char *name, size_t size, bool writable, char *err,
			       size_t err_size)
{
	wchar_t wide[PL_SHM_WNAME_MAX];
	memset(shm, 0, sizeof(*shm));
	if (!make_wide_name(wide, name, err, err_size))
		return PL_SHM_ERROR;

	DWORD access = writable ? (FILE_MAP_READ | FILE_MAP_WRITE) : FILE_MAP_READ;
	HANDLE mapping = OpenFileMappingW(access, FALSE, wide);
	if (!mapping) {
		DWORD code = GetLastError();
		if (code == ERROR_FILE_NOT_FOUND)
			return PL_SHM_NOT_FOUND;
		snprintf(err, err_size, "OpenFileMappingW(\"Local\\%s\") failed: Windows error %lu", name,
			 (unsigned long)code);
		return PL_SHM_ERROR;
	}
	return map_handle(shm, mapping, name, size, writable, err, err_size);
}

void pl_shm_close(struct pl_shm *shm)
{
	if (shm && shm->addr) {
		UnmapViewOfFile(shm->addr);
		CloseHandle((HANDLE)shm->handle);
		shm->addr = NULL;
		shm->handle = NULL;
		shm->size = 0;
	}
}

void pl_shm_unlink_own(const struct pl_shm *shm, const char *name)
{
	(void)shm;
	(void)name;
}

uint32_t pl_shm_process_id(void)
{
	return (uint32_t)GetCurrentProcessId();
}

uint64_t pl_shm_monotonic_us(void)
{
	static LARGE_INTEGER frequency;
	LARGE_INTEGER counter;
	if (frequency.QuadPart == 0)
		QueryPerformanceFrequency(&frequency);
	QueryPerformanceCounter(&counter);
	return (uint64_t)(counter.QuadPart / frequency.QuadPart) * 1000000u +
	       (uint64_t)(counter.QuadPart % frequency.QuadPart) * 1000000u / (uint64_t)frequency.QuadPart;
}
