// The meshwarp renderer's kernel (warp.cc), registered on the shared addon by kernels.cc's Init.
#pragma once
#include <napi.h>

void RegisterWarp(Napi::Env env, Napi::Object exports);
