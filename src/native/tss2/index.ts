export * from './constants.js';
export { EsysAttestation, type SignedAttestation } from './esys-attestation.js';
export { EsysContext } from './esys-context.js';
export { EsysPcrPolicy } from './esys-policy.js';
export { type DecodedRc, decodeRc, type RcLayer, tpmBaseCode } from './response-code.js';
export {
  decodeEccSignature,
  decodePublic,
  type EccParameters,
  type EccPublicTemplate,
  type EcdsaSignature,
  encodeEccPublic,
  type PublicArea,
} from './structures.js';
export { Tss2Error } from './tss2-error.js';
