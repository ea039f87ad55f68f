// The test bed's servers are product code of `whatsapp-connector dev` (src/devstack/); tests import them from here.
export * from '../src/devstack/free-ports.js';
