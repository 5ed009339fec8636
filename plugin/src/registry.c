/*
 * Registry of live instances (see registry.h).
 */
#include "registry.h"

#include <util/bmem.h>
#include <util/darray.h>
#include <util/threading.h>

struct registry_entry {
	enum pl_registry_kind kind;
	void *instance;
	pl_describe_fn describe;
};

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static DARRAY(struct registry_entry) entries;

void pl_registry_add(enum pl_registry_kind kind, void *instance, pl_describe_fn describe)
{
	struct registry_entry entry = {kind, instance, describe};
	pthread_mutex_lock(&registry_mutex);
	da_push_back(entries, &entry);
	pthread_mutex_unlock(&registry_mutex);
}

void pl_registry_remove(void *instance)
{
	pthread_mutex_lock(&registry_mutex);
	for (size_t i = 0; i < entries.num; i++) {
		if (entries.array[i].instance == instance) {
			da_erase(entries, i);
			break;
		}
	}
	pthread_mutex_unlock(&registry_mutex);
}

void pl_registry_describe(obs_data_t *response)
{
	obs_data_array_t *outputs = obs_data_array_create();
	obs_data_array_t *filters = obs_data_array_create();

	pthread_mutex_lock(&registry_mutex);
	for (size_t i = 0; i < entries.num; i++) {
		struct registry_entry *e = &entries.array[i];
		obs_data_t *item = obs_data_create();
		e->describe(e->instance, item);
		obs_data_array_push_back(e->kind == PL_REGISTRY_OUTPUT ? outputs : filters, item);
		obs_data_release(item);
	}
	pthread_mutex_unlock(&registry_mutex);

	obs_data_set_array(response, "outputs", outputs);
	obs_data_set_array(response, "filters", filters);
	obs_data_array_release(outputs);
	obs_data_array_release(filters);
}

void pl_registry_clear(void)
{
	pthread_mutex_lock(&registry_mutex);
	da_free(entries);
	pthread_mutex_unlock(&registry_mutex);
}
