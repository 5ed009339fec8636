/*
 * Frontend hotkeys: reference next / previous / slot 1-9, animation pause toggle.
 * A press emits the obs-websocket vendor event "HotkeyPressed" (see README.md).
 */
#pragma once

#include <obs-module.h>

/* Registers the hotkeys (obs_module_load, UI thread). */
void pl_hotkeys_register(void);

/* Loads bindings the OBS settings dialog saved in the profile (obs_module_post_load and
 * after a profile change; needs obs-frontend-api, otherwise a no-op). */
void pl_hotkeys_load_bindings(void);

/* Unregisters them (obs_module_unload). */
void pl_hotkeys_unregister(void);

/* The hotkey names, as a new array of {"name", "action", "slot"?} objects. */
obs_data_array_t *pl_hotkeys_names(void);
