/*
 * obs-websocket vendor "personalive": requests GetStatus and GetVersion, and events
 * (HotkeyPressed). Uses obs-websocket's procedure handler (no header needed), so the
 * plugin loads and works without obs-websocket; events are then only logged.
 */
#pragma once

#include <obs-module.h>
#include <stdbool.h>

/* Registers the vendor and its requests. Call from obs_module_post_load (UI thread),
 * after obs-websocket has loaded. Logs a warning and returns false without obs-websocket. */
bool pl_vendor_register(void);

/* Forgets the vendor (module unload). Does not call into obs-websocket, which may
 * already be unloaded at that point. */
void pl_vendor_shutdown(void);

/* True once the vendor is registered. */
bool pl_vendor_available(void);

/* Emits a vendor event; `data` is not released. Returns false when there is no vendor. */
bool pl_vendor_emit(const char *event_type, obs_data_t *data);
