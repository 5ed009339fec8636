/*
 * Offline placeholder frame and its 5x7 bitmap font (see placeholder.h).
 * The glyphs were drawn for this project: only the letters the two lines need.
 */
#include "placeholder.h"

#include <string.h>

#define GLYPH_W 5u
#define GLYPH_H 7u
#define GLYPH_ADVANCE 6u /* one blank column between letters */
#define LINE_GAP 3u      /* blank rows between the two lines, in font pixels */

struct glyph {
	char c;
	uint8_t rows[GLYPH_H];
};

/* Bit 4 (0x10) is the leftmost column. */
static const struct glyph font[] = {
	{' ', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
	{'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
	{'D', {0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E}},
	{'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
	{'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
	{'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
	{'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
	{'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
	{'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
	{'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
	{'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
	{'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
	{'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
	{'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
};

const uint8_t *pl_font_glyph(char c)
{
	for (size_t i = 0; i < sizeof(font) / sizeof(font[0]); i++) {
		if (font[i].c == c)
			return font[i].rows;
	}
	return NULL;
}

static uint32_t line_units(const char *text)
{
	size_t n = strlen(text);
	return n ? (uint32_t)n * GLYPH_ADVANCE - 1u : 0;
}

uint32_t pl_placeholder_scale(uint32_t width, uint32_t height)
{
	uint32_t u1 = line_units(PL_PLACEHOLDER_LINE1);
	uint32_t u2 = line_units(PL_PLACEHOLDER_LINE2);
	uint32_t text_w = u1 > u2 ? u1 : u2;
	uint32_t text_h = 2u * GLYPH_H + LINE_GAP;
	/* At most 80 % of the width and 50 % of the height. */
	uint32_t sx = width * 4u / 5u / text_w;
	uint32_t sy = height / 2u / text_h;
	uint32_t s = sx < sy ? sx : sy;
	return s ? s : 1u;
}

static void fill_rect(uint8_t *bgra, uint32_t width, uint32_t height, uint32_t stride, int64_t x0, int64_t y0,
		      uint32_t w, uint32_t h)
{
	for (int64_t y = y0; y < y0 + (int64_t)h; y++) {
		if (y < 0 || y >= (int64_t)height)
			continue;
		uint8_t *row = bgra + (size_t)y * stride;
		for (int64_t x = x0; x < x0 + (int64_t)w; x++) {
			if (x < 0 || x >= (int64_t)width)
				continue;
			uint8_t *p = row + (size_t)x * 4u;
			p[0] = PL_PLACEHOLDER_FG_B;
			p[1] = PL_PLACEHOLDER_FG_G;
			p[2] = PL_PLACEHOLDER_FG_R;
			p[3] = 255;
		}
	}
}

static void draw_line(uint8_t *bgra, uint32_t width, uint32_t height, uint32_t stride, const char *text,
		      int64_t top, uint32_t scale)
{
	int64_t left = ((int64_t)width - (int64_t)(line_units(text) * scale)) / 2;
	for (size_t i = 0; text[i]; i++) {
		const uint8_t *rows = pl_font_glyph(text[i]);
		if (!rows)
			continue;
		int64_t gx = left + (int64_t)(i * GLYPH_ADVANCE * scale);
		for (uint32_t ry = 0; ry < GLYPH_H; ry++) {
			for (uint32_t rx = 0; rx < GLYPH_W; rx++) {
				if (rows[ry] & (0x10u >> rx))
					fill_rect(bgra, width, height, stride, gx + (int64_t)(rx * scale),
						  top + (int64_t)(ry * scale), scale, scale);
			}
		}
	}
}

void pl_placeholder_draw(uint8_t *bgra, uint32_t width, uint32_t height, uint32_t stride)
{
	for (uint32_t y = 0; y < height; y++) {
		uint8_t *p = bgra + (size_t)y * stride;
		for (uint32_t x = 0; x < width; x++, p += 4) {
			p[0] = PL_PLACEHOLDER_BG_B;
			p[1] = PL_PLACEHOLDER_BG_G;
			p[2] = PL_PLACEHOLDER_BG_R;
			p[3] = 255;
		}
	}
	uint32_t s = pl_placeholder_scale(width, height);
	uint32_t text_h = (2u * GLYPH_H + LINE_GAP) * s;
	int64_t top = ((int64_t)height - (int64_t)text_h) / 2;
	draw_line(bgra, width, height, stride, PL_PLACEHOLDER_LINE1, top, s);
	draw_line(bgra, width, height, stride, PL_PLACEHOLDER_LINE2, top + (int64_t)((GLYPH_H + LINE_GAP) * s), s);
}
