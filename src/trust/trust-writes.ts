/**
 * Writes this process made to the trust tables that decisions read from the database on every
 * handshake (enrollments, name bindings). Accepted verdicts cached by SensorTrust are only served
 * while this count (and SQLite's data_version, for other processes' writes) is unchanged.
 */
let writes = 0;

export function noteTrustWrite(): void {
  writes++;
}

export function trustWrites(): number {
  return writes;
}
