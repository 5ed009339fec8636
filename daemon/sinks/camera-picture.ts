/**
 * The camera picture (16:9): the square animation placed on a background, or, for a wide
 * portrait, pasted back into the photo itself (kernels/compose.ts). One stage shared by
 * every sink that shows it (the virtual camera, and the OBS source and recordings when
 * output.picture is 'camera'), so a frame is composed once per tick whatever reads it. The
 * background is made beside the stream (the old one stays until the new one is ready).
 */
import type { DaemonConfig } from '../config/config.js';
import { asPersonaLiveError, type PersonaLiveError } from '../errors.js';
import type { Frame, RgbImage } from '../frames.js';
import { PictureComposer, framedBox, isWidePhoto, type Box, type Placement } from '../kernels/compose.js';
import { pictureSize } from '../kinds.js';
import { backgroundPicture } from '../media/image.js';
import type { Sink } from './types.js';

export interface CameraPicture {
  placement: Placement;
  /** The background for a portrait (null before there is one) around the animation's box. */
  background(reference: RgbImage | null, box: Box): Promise<Uint8Array>;
  /** The animation's box when the portrait is shown in its own framing (a wide photo), else null (the placement). */
  framing?(reference: RgbImage): Box | null;
}

/** The settings the running stage takes without a rebuild (compared as JSON to see a change). */
export function cameraPictureSettings(config: DaemonConfig): unknown {
  const { scale, x, y, background, colour, image } = config.output.virtualCamera;
  return { scale, x, y, background, colour, image };
}

/** The camera's 16:9 picture from the configuration: the placement, and how its background is made. */
export function cameraPictureFor(config: DaemonConfig): CameraPicture {
  const camera = config.output.virtualCamera;
  const { width, height } = pictureSize(camera.size);
  const wide = (reference: RgbImage | null): boolean => reference !== null && isWidePhoto(reference.width, reference.height);
  return {
    placement: { scale: camera.scale, x: camera.x, y: camera.y },
    // A wide photo is animated in its own framing (the animation pasted back where it came from);
    // square and tall ones are placed on the chosen background.
    framing: (reference) => (wide(reference) ? framedBox(reference.width, reference.height, width, height, reference.square) : null),
    background: (reference, box) =>
      backgroundPicture({ mode: wide(reference) ? 'photo' : camera.background, colour: camera.colour, imagePath: camera.image, reference, box, argument: 'output.virtualCamera.image' }, width, height),
  };
}

export class CameraPictureStage {
  private composer!: PictureComposer;
  private composed!: Uint8Array;
  private settings: CameraPicture;
  private reference: RgbImage | null = null;
  /** Which background request is the newest (an older one finishing late is dropped). */
  private backgroundFor = 0;
  private backgroundReady: Promise<void> = Promise.resolve();
  /** The frame last composed (by its buffer, index and time), so the next reader of the same tick reuses it. */
  private last: { data: Uint8Array; index: number; captureUs: number } | null = null;
  private out!: Frame;
  /** 'photo': a wide portrait in its own framing; 'placed': the animation at the configured placement. */
  framing: 'photo' | 'placed' = 'placed';

  constructor(width: number, height: number, picture: CameraPicture, private readonly onError: (error: PersonaLiveError) => void = () => undefined) {
    this.settings = picture;
    this.allocate(width, height);
    this.refresh();
  }

  /** A composer and a picture buffer of this size (the frame handed out reads that buffer). */
  private allocate(width: number, height: number): void {
    this.composer = new PictureComposer(width, height, this.settings.placement);
    this.composed = new Uint8Array(width * height * 3);
    this.out = { data: this.composed, width, height, index: 0, captureUs: 0, warmup: false };
  }

  get width(): number {
    return this.composer.width;
  }

  get height(): number {
    return this.composer.height;
  }

  /** Where the animation is in the picture now. */
  get box(): Box {
    return this.composer.placementBox;
  }

  /** Settles when the newest background asked for is in place (tests; the start of a camera). */
  ready(): Promise<void> {
    return this.backgroundReady;
  }

  /** A new picture size (the camera's): a fresh composer; the background is made again. */
  resize(width: number, height: number): void {
    if (width === this.width && height === this.height) return;
    this.allocate(width, height);
    this.refresh(); // forgets the last composed frame too
  }

  /** New placement or background: the next frame shows it. */
  setPicture(picture: CameraPicture): void {
    this.settings = picture;
    this.refresh();
  }

  referenceChanged(image: RgbImage): void {
    if (image === this.reference) return; // told by every sink that shows the picture
    this.reference = image;
    this.refresh();
  }

  /** Where the animation goes for the current portrait, and its background. */
  private refresh(): void {
    const framed = this.reference ? this.settings.framing?.(this.reference) ?? null : null;
    this.framing = framed ? 'photo' : 'placed';
    if (framed) this.composer.setBox(framed);
    else this.composer.setPlacement(this.settings.placement);
    this.last = null;
    const mine = ++this.backgroundFor;
    const composer = this.composer;
    this.backgroundReady = this.settings.background(this.reference, composer.placementBox).then(
      (rgb) => {
        if (mine !== this.backgroundFor) return;
        composer.setBackground(rgb);
        this.last = null;
      },
      (error: unknown) => this.onError(asPersonaLiveError(error)),
    );
  }

  /**
   * The camera picture for an animation frame: composed once per frame (the same frame again
   * returns the same picture); a frame already of the picture's size is passed through. The
   * returned frame's buffer is the stage's: read it before the next tick.
   */
  picture(frame: Frame): Frame {
    if ((frame.width === this.width && frame.height === this.height) || frame.width !== frame.height) return frame; // already a picture, or not an animation frame
    const last = this.last;
    if (!last || last.data !== frame.data || last.index !== frame.index || last.captureUs !== frame.captureUs) {
      this.composer.compose(frame.data, frame.width, this.composed);
      this.last = { data: frame.data, index: frame.index, captureUs: frame.captureUs };
    }
    this.out.index = frame.index;
    this.out.captureUs = frame.captureUs;
    this.out.warmup = frame.warmup;
    return this.out;
  }
}

/** A sink that gets the camera picture instead of the square animation (the OBS source or a recording with output.picture 'camera'). */
export function showingCameraPicture(inner: Sink, stage: CameraPictureStage): Sink {
  return {
    kind: inner.kind,
    write: (frame, repeated, nowUs) => inner.write(stage.picture(frame), repeated, nowUs),
    referenceChanged: (image) => stage.referenceChanged(image),
    status: () => ({ ...inner.status(), picture: 'camera', framing: stage.framing }),
    close: () => inner.close(),
  };
}
