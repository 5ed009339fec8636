/*
 * PersonaLive OBS plugin: registration only. The output source, the driving-capture
 * filter, the hotkeys and the obs-websocket vendor live in their own files.
 */
#include "hotkeys.h"
#include "plugin-support.h"
#include "registry.h"
#include "vendor.h"

#include "../include/personalive-ring.h"

#ifdef PL_HAVE_FRONTEND_API
#include <obs-frontend-api.h>
#endif

OBS_DECLARE_MODULE()
OBS_MODULE_USE_DEFAULT_LOCALE(PL_MODULE_NAME, "en-US")

MODULE_EXPORT const char *obs_module_description(void)
{
	return obs_module_text("Plugin.Description");
}

#ifdef PL_HAVE_FRONTEND_API
/* UI thread. Each profile keeps its own hotkey bindings. */
static void frontend_event(enum obs_frontend_event event, void *private_data)
{
	UNUSED_PARAMETER(private_data);
	if (event == OBS_FRONTEND_EVENT_PROFILE_CHANGED)
		pl_hotkeys_load_bindings();
}
#endif

/* UI thread, at OBS start-up (before the scene collection loads). */
bool obs_module_load(void)
{
	obs_register_source(&pl_output_source_info);
	obs_register_source(&pl_driving_filter_info);
	pl_hotkeys_register();
	pl_log(LOG_INFO, "version %s loaded (ring layout version %u)", PL_PLUGIN_VERSION, PL_RING_VERSION);
	return true;
}

/* UI thread, after every module has loaded (obs-websocket included). */
void obs_module_post_load(void)
{
	pl_vendor_register();
	pl_hotkeys_load_bindings();
#ifdef PL_HAVE_FRONTEND_API
	obs_frontend_add_event_callback(frontend_event, NULL);
#endif
}

/* UI thread, at OBS shutdown; sources and filters are already destroyed. */
void obs_module_unload(void)
{
#ifdef PL_HAVE_FRONTEND_API
	obs_frontend_remove_event_callback(frontend_event, NULL);
#endif
	pl_hotkeys_unregister();
	pl_vendor_shutdown();
	pl_registry_clear();
	pl_log(LOG_INFO, "unloaded");
}
