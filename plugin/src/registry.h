/*
 * Live output sources and driving filters, for the vendor request GetStatus.
 *
 * Instances add themselves in create and remove themselves in destroy (before freeing);
 * describe callbacks run under the registry mutex on obs-websocket's thread, so they
 * only read atomics and copy strings under the instance's own mutex. Lock order:
 * registry, then instance; an instance never takes the registry lock while holding its own.
 */
#pragma once

#include <obs-module.h>

enum pl_registry_kind {
	PL_REGISTRY_OUTPUT = 0,
	PL_REGISTRY_FILTER = 1,
};

typedef void (*pl_describe_fn)(void *instance, obs_data_t *item);

void pl_registry_add(enum pl_registry_kind kind, void *instance, pl_describe_fn describe);
void pl_registry_remove(void *instance);

/* Sets "outputs" and "filters" arrays on `response`, one object per live instance. */
void pl_registry_describe(obs_data_t *response);

/* Drops every entry (module unload). */
void pl_registry_clear(void);
