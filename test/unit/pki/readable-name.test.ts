import { describe, expect, it } from 'vitest';
import { readableName } from '../../../src/pki/index.js';

describe('readableName', () => {
  it('names serialNumber and leaves other attributes alone', () => {
    expect(readableName('CN=device-01AB, 2.5.4.5=01AB')).toBe('CN=device-01AB, serialNumber=01AB');
    expect(readableName('2.5.4.5=7, O=x')).toBe('serialNumber=7, O=x');
    expect(readableName('CN=a, 1.2.3.4=b')).toBe('CN=a, 1.2.3.4=b');
  });
});
