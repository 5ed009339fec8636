/*
 * obs-websocket vendor "personalive" (see vendor.h).
 *
 * The vendor API is a set of procedures on a proc handler that obs-websocket (5.x)
 * publishes: the global proc handler's "obs_websocket_api_get_ph" returns it ("ph"),
 * then "vendor_register" (name -> vendor), "vendor_request_register" (vendor, type,
 * callback = pointer to {function, private data}, copied by obs-websocket) and
 * "vendor_event_emit" (vendor, type, data). The pair's layout below matches
 * obs-websocket's struct obs_websocket_request_callback.
 */
#include "vendor.h"
#include "hotkeys.h"
#include "plugin-support.h"
#include "registry.h"

#include "../include/personalive-ring.h"

#include <callback/calldata.h>
#include <callback/proc.h>
#include <util/threading.h>

typedef void (*pl_vendor_request_fn)(obs_data_t *request, obs_data_t *response, void *priv);

struct pl_vendor_request_callback {
	pl_vendor_request_fn callback;
	void *priv;
};

static pthread_mutex_t vendor_mutex = PTHREAD_MUTEX_INITIALIZER;
static proc_handler_t *ws_ph;
static void *vendor;

/* Called on obs-websocket's request thread (not the UI or graphics thread). */
static void request_get_status(obs_data_t *request, obs_data_t *response, void *priv)
{
	UNUSED_PARAMETER(request);
	UNUSED_PARAMETER(priv);
	obs_data_set_string(response, "pluginVersion", PL_PLUGIN_VERSION);
	obs_data_set_int(response, "ringVersion", PL_RING_VERSION);
	obs_data_set_bool(response, "websocketVendor", pl_vendor_available());
	pl_registry_describe(response);
	obs_data_array_t *hotkeys = pl_hotkeys_names();
	obs_data_set_array(response, "hotkeys", hotkeys);
	obs_data_array_release(hotkeys);
}

/* Called on obs-websocket's request thread. */
static void request_get_version(obs_data_t *request, obs_data_t *response, void *priv)
{
	UNUSED_PARAMETER(request);
	UNUSED_PARAMETER(priv);
	obs_data_set_string(response, "pluginVersion", PL_PLUGIN_VERSION);
	obs_data_set_int(response, "ringVersion", PL_RING_VERSION);
	obs_data_set_string(response, "obsVersion", obs_get_version_string());
	obs_data_set_string(response, "outputSourceKind", PL_OUTPUT_SOURCE_ID);
	obs_data_set_string(response, "drivingFilterKind", PL_DRIVING_FILTER_ID);
}

static bool register_request(proc_handler_t *ph, void *v, const char *type, pl_vendor_request_fn fn)
{
	/* obs-websocket copies the pair, so a stack value is enough. */
	struct pl_vendor_request_callback cb = {fn, NULL};
	calldata_t cd;
	calldata_init(&cd);
	calldata_set_ptr(&cd, "vendor", v);
	calldata_set_string(&cd, "type", type);
	calldata_set_ptr(&cd, "callback", &cb);
	bool called = proc_handler_call(ph, "vendor_request_register", &cd);
	bool ok = called && calldata_bool(&cd, "success");
	calldata_free(&cd);
	if (!ok)
		pl_log(LOG_WARNING, "obs-websocket refused the vendor request \"%s\"", type);
	return ok;
}

bool pl_vendor_register(void)
{
	calldata_t cd;
	calldata_init(&cd);
	bool found = proc_handler_call(obs_get_proc_handler(), "obs_websocket_api_get_ph", &cd);
	proc_handler_t *ph = found ? (proc_handler_t *)calldata_ptr(&cd, "ph") : NULL;
	calldata_free(&cd);
	if (!ph) {
		pl_log(LOG_WARNING, "obs-websocket is not loaded: no vendor \"%s\"; hotkeys will only be logged",
		       PL_VENDOR_NAME);
		return false;
	}

	long long api_version = 0;
	calldata_init(&cd);
	if (proc_handler_call(ph, "get_api_version", &cd))
		api_version = calldata_int(&cd, "version");
	calldata_free(&cd);

	calldata_init(&cd);
	calldata_set_string(&cd, "name", PL_VENDOR_NAME);
	bool called = proc_handler_call(ph, "vendor_register", &cd);
	void *v = called ? calldata_ptr(&cd, "vendor") : NULL;
	calldata_free(&cd);
	if (!v) {
		pl_log(LOG_WARNING, "obs-websocket (API %lld) refused the vendor \"%s\"", api_version, PL_VENDOR_NAME);
		return false;
	}

	register_request(ph, v, "GetStatus", request_get_status);
	register_request(ph, v, "GetVersion", request_get_version);

	pthread_mutex_lock(&vendor_mutex);
	ws_ph = ph;
	vendor = v;
	pthread_mutex_unlock(&vendor_mutex);
	pl_log(LOG_INFO, "obs-websocket vendor \"%s\" registered (vendor API %lld; requests GetStatus, GetVersion)",
	       PL_VENDOR_NAME, api_version);
	return true;
}

void pl_vendor_shutdown(void)
{
	pthread_mutex_lock(&vendor_mutex);
	ws_ph = NULL;
	vendor = NULL;
	pthread_mutex_unlock(&vendor_mutex);
}

bool pl_vendor_available(void)
{
	pthread_mutex_lock(&vendor_mutex);
	bool available = vendor != NULL;
	pthread_mutex_unlock(&vendor_mutex);
	return available;
}

bool pl_vendor_emit(const char *event_type, obs_data_t *data)
{
	bool ok = false;
	pthread_mutex_lock(&vendor_mutex);
	if (ws_ph && vendor) {
		calldata_t cd;
		calldata_init(&cd);
		calldata_set_ptr(&cd, "vendor", vendor);
		calldata_set_string(&cd, "type", event_type);
		calldata_set_ptr(&cd, "data", data);
		ok = proc_handler_call(ws_ph, "vendor_event_emit", &cd) && calldata_bool(&cd, "success");
		calldata_free(&cd);
	}
	pthread_mutex_unlock(&vendor_mutex);
	return ok;
}
