/**
 * Starts our DTLS client handshake as soon as ICE is connected.
 *
 * werift's RTCDtlsTransport, as DTLS client, waits a fixed 100 ms after ICE connects before it
 * sends the ClientHello (werift 0.24, `RTCDtlsTransport.start`). On a call that is 100 ms of the
 * caller's silence at every accept (measured: ICE connected → DTLS connected took 110-120 ms of
 * the ~190 ms from Accept to audio). libwebrtc, which WhatsApp clients and Meta's relays are built
 * to talk to, sends the ClientHello the moment ICE is writable; a ClientHello the peer was not yet
 * ready for is resent by the normal DTLS flight timer, as any lost packet is.
 *
 * Through werift's public types: when a transport enters `connecting` it has created its
 * {@link DtlsClient} (`dtls`), whose `connect()` sends flight 1. We call it at once and make it
 * idempotent, so werift's own delayed call joins the same handshake (and sees its failure)
 * instead of starting a second one.
 */
import { DtlsClient, type RTCDtlsTransport, type RTCPeerConnection } from 'werift';

const watched = new WeakSet<RTCDtlsTransport>();

/** Watches every DTLS transport of `pc` (call again after each description; idempotent). */
export function startDtlsPromptly(pc: RTCPeerConnection): void {
  for (const transport of pc.dtlsTransports) {
    if (watched.has(transport)) continue;
    watched.add(transport);
    const { unSubscribe } = transport.onStateChange.subscribe((state) => {
      if (state !== 'connecting') {
        if (state !== 'new') unSubscribe();
        return;
      }
      unSubscribe();
      // The transport emits `connecting` just before it creates its DTLS socket.
      queueMicrotask(() => connectNow(transport));
    });
  }
}

function connectNow(transport: RTCDtlsTransport): void {
  const client = transport.dtls;
  if (!(client instanceof DtlsClient) || transport.state !== 'connecting') return;
  const connect = client.connect.bind(client);
  let handshake: Promise<void> | undefined;
  client.connect = () => (handshake ??= connect());
  // Failures reach werift through its own (joined) connect call, which fails the transport.
  client.connect().catch(() => undefined);
}
