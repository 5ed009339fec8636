/*
 * The frame the output source shows while the daemon is offline: a dark background
 * with "PERSONALIVE" over "DAEMON OFFLINE" in a built-in 5x7 bitmap font, scaled up and
 * centred. Pure pixel code (no libobs), so the self-test can check it.
 */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Background RGB 24,24,32 (a near-black blue-grey), text RGB 230,230,230. */
#define PL_PLACEHOLDER_BG_R 24u
#define PL_PLACEHOLDER_BG_G 24u
#define PL_PLACEHOLDER_BG_B 32u
#define PL_PLACEHOLDER_FG_R 230u
#define PL_PLACEHOLDER_FG_G 230u
#define PL_PLACEHOLDER_FG_B 230u

#define PL_PLACEHOLDER_LINE1 "PERSONALIVE"
#define PL_PLACEHOLDER_LINE2 "DAEMON OFFLINE"

/* Glyph rows (7, top first; bit 4 is the leftmost of 5 columns) of an upper-case letter or
 * space; NULL for characters the font does not have (drawn as blank). */
const uint8_t *pl_font_glyph(char c);

/* The integer scale the placeholder text uses for a frame of that size (>= 1). */
uint32_t pl_placeholder_scale(uint32_t width, uint32_t height);

/* Draws the placeholder into a BGRA buffer (alpha 255), `stride` bytes per row. */
void pl_placeholder_draw(uint8_t *bgra, uint32_t width, uint32_t height, uint32_t stride);

#ifdef __cplusplus
}
#endif
