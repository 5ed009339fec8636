/*
 * Frontend hotkeys (see hotkeys.h).
 *
 * OBS saves the bindings of frontend hotkeys in the profile's basic.ini, section
 * [Hotkeys], key = hotkey name, value = {"bindings": [...]}, but reloads only its own at
 * start-up; plugins load theirs (pl_hotkeys_load_bindings).
 */
#include "hotkeys.h"
#include "plugin-support.h"
#include "vendor.h"

#ifdef PL_HAVE_FRONTEND_API
#include <obs-frontend-api.h>
#include <util/config-file.h>
#endif

#include <string.h>

struct hotkey_def {
	const char *name;        /* OBS hotkey name, also the event's "hotkey" */
	const char *action;      /* the event's "action" */
	int slot;                /* 1..9 for reference.slot, else 0 */
	const char *description; /* locale key */
};

static const struct hotkey_def hotkey_defs[] = {
	{"personalive.reference.next", "reference.next", 0, "Hotkey.ReferenceNext"},
	{"personalive.reference.previous", "reference.previous", 0, "Hotkey.ReferencePrevious"},
	{"personalive.reference.slot1", "reference.slot", 1, "Hotkey.ReferenceSlot1"},
	{"personalive.reference.slot2", "reference.slot", 2, "Hotkey.ReferenceSlot2"},
	{"personalive.reference.slot3", "reference.slot", 3, "Hotkey.ReferenceSlot3"},
	{"personalive.reference.slot4", "reference.slot", 4, "Hotkey.ReferenceSlot4"},
	{"personalive.reference.slot5", "reference.slot", 5, "Hotkey.ReferenceSlot5"},
	{"personalive.reference.slot6", "reference.slot", 6, "Hotkey.ReferenceSlot6"},
	{"personalive.reference.slot7", "reference.slot", 7, "Hotkey.ReferenceSlot7"},
	{"personalive.reference.slot8", "reference.slot", 8, "Hotkey.ReferenceSlot8"},
	{"personalive.reference.slot9", "reference.slot", 9, "Hotkey.ReferenceSlot9"},
	{"personalive.animation.toggle_pause", "animation.toggle_pause", 0, "Hotkey.AnimationTogglePause"},
	{"personalive.expression.calibrate", "expression.calibrate", 0, "Hotkey.ExpressionCalibrate"},
};

#define HOTKEY_COUNT (sizeof(hotkey_defs) / sizeof(hotkey_defs[0]))

static obs_hotkey_id hotkey_ids[HOTKEY_COUNT];
static bool registered;

static void fill_hotkey(obs_data_t *data, const struct hotkey_def *def)
{
	obs_data_set_string(data, "hotkey", def->name);
	obs_data_set_string(data, "action", def->action);
	if (def->slot > 0)
		obs_data_set_int(data, "slot", def->slot);
}

/*
 * Called with OBS's hotkey lock held: on the UI thread (OBS routes hotkey presses there)
 * or, for obs-websocket's TriggerHotkeyByName, on obs-websocket's request thread.
 * Must not call hotkey functions; emitting a vendor event is fine.
 */
static void hotkey_pressed(void *data, obs_hotkey_id id, obs_hotkey_t *hotkey, bool pressed)
{
	UNUSED_PARAMETER(id);
	UNUSED_PARAMETER(hotkey);
	if (!pressed)
		return;
	const struct hotkey_def *def = data;
	obs_data_t *event = obs_data_create();
	fill_hotkey(event, def);
	bool sent = pl_vendor_emit("HotkeyPressed", event);
	obs_data_release(event);
	pl_log(LOG_INFO, "hotkey %s pressed%s", def->name, sent ? "" : " (no obs-websocket vendor: not sent)");
}

void pl_hotkeys_register(void)
{
	for (size_t i = 0; i < HOTKEY_COUNT; i++) {
		hotkey_ids[i] = obs_hotkey_register_frontend(hotkey_defs[i].name,
							     obs_module_text(hotkey_defs[i].description),
							     hotkey_pressed, (void *)&hotkey_defs[i]);
	}
	registered = true;
}

void pl_hotkeys_load_bindings(void)
{
#ifdef PL_HAVE_FRONTEND_API
	if (!registered)
		return;
	config_t *config = obs_frontend_get_profile_config();
	if (!config)
		return;
	size_t loaded = 0;
	for (size_t i = 0; i < HOTKEY_COUNT; i++) {
		if (hotkey_ids[i] == OBS_INVALID_HOTKEY_ID)
			continue;
		const char *json = config_get_string(config, "Hotkeys", hotkey_defs[i].name);
		if (!json || !*json)
			continue;
		obs_data_t *data = obs_data_create_from_json(json);
		if (!data)
			continue;
		obs_data_array_t *bindings = obs_data_get_array(data, "bindings");
		if (bindings) {
			obs_hotkey_load(hotkey_ids[i], bindings);
			obs_data_array_release(bindings);
			loaded++;
		}
		obs_data_release(data);
	}
	if (loaded)
		pl_log(LOG_INFO, "loaded the bindings of %zu hotkeys from the profile", loaded);
#endif
}

void pl_hotkeys_unregister(void)
{
	if (!registered)
		return;
	for (size_t i = 0; i < HOTKEY_COUNT; i++) {
		if (hotkey_ids[i] != OBS_INVALID_HOTKEY_ID)
			obs_hotkey_unregister(hotkey_ids[i]);
		hotkey_ids[i] = OBS_INVALID_HOTKEY_ID;
	}
	registered = false;
}

obs_data_array_t *pl_hotkeys_names(void)
{
	obs_data_array_t *array = obs_data_array_create();
	for (size_t i = 0; i < HOTKEY_COUNT; i++) {
		obs_data_t *item = obs_data_create();
		fill_hotkey(item, &hotkey_defs[i]);
		obs_data_array_push_back(array, item);
		obs_data_release(item);
	}
	return array;
}
