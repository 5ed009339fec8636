/** The plugin's OBS hotkeys, which arrive as obs-websocket vendor events. */
import { asPersonaLiveError } from '../errors.js';
import { PERSONALIVE_VENDOR, type VendorEvent } from '../obs/obs-client.js';
import type { DaemonSession } from './session.js';

/** Acts on one vendor event; a failure is shown as a notice (the stream goes on). */
export async function onHotkey(session: DaemonSession, event: VendorEvent): Promise<void> {
  if (event.vendorName !== PERSONALIVE_VENDOR || event.eventType !== 'HotkeyPressed') return;
  const { loop, gallery } = session;
  const action = String(event.eventData.action);
  try {
    if (action === 'animation.toggle_pause') {
      loop.setPaused(!loop.isPaused);
      return;
    }
    if (action === 'expression.calibrate') {
      await loop.calibrate();
      session.notice('info', null, 'Neutral face set (hotkey): motion is measured from this frame on');
      return;
    }
    const id = action === 'reference.next' ? gallery.idAfterActive(1)
      : action === 'reference.previous' ? gallery.idAfterActive(-1)
      : action === 'reference.slot' ? gallery.idAtSlot(Number(event.eventData.slot))
      : null;
    if (id && id !== gallery.activeId) await session.activateReference(id);
  } catch (error) {
    const e = asPersonaLiveError(error);
    session.notice('error', e.code, `Hotkey ${action}: ${e.message}`);
  }
}
