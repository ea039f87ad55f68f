import { readFileSync } from 'node:fs';

const SDP_DIR = new URL('../../fixtures/whatsapp/sdp/', import.meta.url);

/** Reads an SDP capture from test/fixtures/whatsapp/sdp/ byte for byte. */
export function sdpFixture(name: string): string {
  return readFileSync(new URL(name, SDP_DIR), 'utf8');
}

/** Meta's offers in user-initiated calls: three real captures and the doc sample. */
export const META_UIC_OFFERS = [
  'cap1-uic-offer-2025-10-17.sdp',
  'cap2-uic-offer-2026-10-02.sdp',
  'cap3-uic-offer-2025-11-05.sdp',
  'doc-uic-offer.sdp',
];

/** Meta's answers in business-initiated calls: the doc sample and the connect-webhook sample. */
export const META_BIC_ANSWERS = ['doc-bic-answer.sdp', 'ref-bic-connect-answer.sdp'];
