/** Attribute types @peculiar/x509 prints as bare OIDs, with the names operators know from openssl. */
const NAMES: Record<string, string> = { '2.5.4.5': 'serialNumber' };

/** A distinguished name as text, with known OIDs named ("2.5.4.5=0123" → "serialNumber=0123"). */
export function readableName(name: string): string {
  return name.replace(/(^|, )(\d+(?:\.\d+)+)=/g, (match, separator: string, oid: string) =>
    NAMES[oid] ? `${separator}${NAMES[oid]}=` : match,
  );
}
