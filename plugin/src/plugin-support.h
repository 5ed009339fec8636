/*
 * Shared by the plugin's files: names, version, logging, and the registered objects.
 */
#pragma once

#include <obs-module.h>

#ifndef PL_PLUGIN_VERSION
#define PL_PLUGIN_VERSION "0.1.0" /* CMake passes the project version */
#endif

#define PL_MODULE_NAME "personalive"
#define PL_VENDOR_NAME "personalive"
#define PL_OUTPUT_SOURCE_ID "personalive_output_source"
#define PL_DRIVING_FILTER_ID "personalive_driving_filter"

#define pl_log(level, format, ...) blog(level, "[personalive] " format, ##__VA_ARGS__)

extern struct obs_source_info pl_output_source_info;
extern struct obs_source_info pl_driving_filter_info;
