/**
 * The page Chromium loads to play the WhatsApp user's phone. Its script is plain browser
 * JavaScript (the project's TypeScript has no DOM types) and exposes `window.whatsappUser`, which
 * {@link ChromiumWhatsAppUser} drives through `page.evaluate`.
 */
export const WHATSAPP_USER_PAGE_HTML = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>WhatsApp user</title></head>
<body>
<script>
'use strict';
const phone = { pc: null, sender: null, remoteTrack: null };

function waitForGathering(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') resolve();
    });
  });
}

window.whatsappUser = {
  // The microphone (Chromium's fake device playing a WAV) without processing, so levels are exact.
  async createOffer() {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    const pc = new RTCPeerConnection({ iceServers: [] });
    phone.pc = pc;
    phone.sender = pc.addTrack(stream.getAudioTracks()[0], stream);
    pc.addEventListener('track', (event) => {
      phone.remoteTrack = event.track;
      // A sink keeps the remote track flowing; muted so the headless browser plays nothing.
      const audio = document.createElement('audio');
      audio.muted = true;
      audio.autoplay = true;
      audio.srcObject = new MediaStream([event.track]);
      document.body.appendChild(audio);
      audio.play().catch(() => undefined);
    });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc);
    return pc.localDescription.sdp;
  },

  async applyAnswer(sdp) {
    await phone.pc.setRemoteDescription({ type: 'answer', sdp });
  },

  states() {
    const pc = phone.pc;
    if (!pc) return { connection: 'none', ice: 'none', dtls: 'none' };
    const transport = phone.sender && phone.sender.transport;
    return {
      connection: pc.connectionState,
      ice: pc.iceConnectionState,
      dtls: transport ? transport.state : 'none',
    };
  },

  // PCM of the remote track for ms milliseconds, first channel, as 16-bit integers.
  async recordRemote(ms) {
    if (!phone.remoteTrack) throw new Error('no remote track yet');
    const track = phone.remoteTrack.clone();
    const reader = new MediaStreamTrackProcessor({ track }).readable.getReader();
    const samples = [];
    let sampleRate = 0;
    const until = performance.now() + ms;
    try {
      while (performance.now() < until) {
        const { value, done } = await reader.read();
        if (done) break;
        sampleRate = value.sampleRate;
        const plane = new Float32Array(value.numberOfFrames);
        value.copyTo(plane, { planeIndex: 0, format: 'f32-planar' });
        value.close();
        for (const x of plane) samples.push(Math.max(-32768, Math.min(32767, Math.round(x * 32767))));
      }
    } finally {
      await reader.cancel().catch(() => undefined);
      track.stop();
    }
    return { sampleRate, samples };
  },

  // RFC 4733 digits on the microphone's sender; resolves when the last tone was played out.
  sendDtmf(tones) {
    const dtmf = phone.sender && phone.sender.dtmf;
    if (!dtmf || !dtmf.canInsertDTMF) throw new Error('DTMF cannot be sent on this connection');
    return new Promise((resolve) => {
      const onTone = (event) => {
        if (event.tone === '') {
          dtmf.removeEventListener('tonechange', onTone);
          resolve();
        }
      };
      dtmf.addEventListener('tonechange', onTone);
      dtmf.insertDTMF(tones, 100, 70);
    });
  },

  close() {
    if (phone.pc) phone.pc.close();
  },
};
</script>
</body>
</html>
`;
