import type { CsrAttribute } from './est-body.js';
import type { EstClient } from './est-client.js';
import { EstError } from './est-error.js';

/**
 * /csrattrs is advice (RFC 7030 §4.5: the server "MAY" use it, the client builds the CSR): an answer
 * that cannot be used — an HTTP error, a body that is no base64 or no CsrAttrs, no answer — is handed
 * to `unusable` (to be logged with what the server said) and enrolment goes on without attributes.
 * Only a bug (not an EstError) propagates.
 */
export async function csrAttributesOrNone(
  client: Pick<EstClient, 'csrattrs'>,
  unusable: (error: EstError) => void,
): Promise<CsrAttribute[]> {
  try {
    return await client.csrattrs();
  } catch (error) {
    if (!(error instanceof EstError)) throw error;
    unusable(error);
    return [];
  }
}
