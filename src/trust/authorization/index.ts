/** What an admitted sensor may do: CoAP authorization rules and application-level proof of possession. */
export {
  type AuthorizationDecision,
  AuthorizationPolicy,
  type AuthorizationRuleSettings,
} from './authorization-policy.js';
export { type ChallengeVerdict, ChallengeVerifier, type IssuedChallenge } from './challenge-verifier.js';
