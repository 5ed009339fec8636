/** Driving source registry: one entry per kind. */
import type { DrivingKind } from '../kinds.js';
import type { DrivingSettings } from '../protocol.js';
import { createFileSource } from './file-source.js';
import { createImageSource } from './image-source.js';
import { createRingSource } from './ring-source.js';
import type { DrivingSource, SourceOptions } from './types.js';
import { createWebcamSource } from './webcam-source.js';

export const DRIVING_SOURCE_REGISTRY: { readonly [K in DrivingKind]: (settings: DrivingSettings, options: SourceOptions) => DrivingSource } = Object.freeze({
  ring: (settings, options) => createRingSource(settings.ring, options),
  webcam: (settings, options) => createWebcamSource(settings.webcam, options),
  file: (settings, options) => createFileSource(settings.file, options),
  image: (settings, options) => createImageSource(settings.image, options),
});
