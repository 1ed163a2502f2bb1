/**
 * The topic and MQTT 5 user properties of a sensor's telemetry, made once per sensor (and again when
 * its certificate or device type changes) instead of once per message: the outbox serializes a
 * properties object it has seen once only, and the publisher builds its PUBLISH options once per
 * properties object. The properties are frozen: every message of the sensor shares them.
 */
export class TelemetryEnvelopes {
  readonly #topicTemplate: string;
  readonly #bySensor = new Map<string, Envelope>();
  readonly #maxSensors: number;

  /** `maxSensors`: beyond this many sensors the cache starts over (memory stays bounded). */
  constructor(topicTemplate: string, maxSensors = 100_000) {
    this.#topicTemplate = topicTemplate;
    this.#maxSensors = maxSensors;
  }

  of(sensorId: string, sha256: string, deviceType: string | undefined): Envelope {
    const known = this.#bySensor.get(sensorId);
    if (known && known.sha256 === sha256 && known.deviceType === deviceType) return known;
    const properties: Record<string, string> = { 'sensor-id': sensorId, 'certificate-sha256': sha256 };
    if (deviceType) properties['device-type'] = deviceType;
    const envelope: Envelope = {
      sha256,
      deviceType,
      topic: this.#topicTemplate.replaceAll('{sensorId}', sensorId),
      properties: Object.freeze(properties),
    };
    if (!known && this.#bySensor.size >= this.#maxSensors) this.#bySensor.clear();
    this.#bySensor.set(sensorId, envelope);
    return envelope;
  }
}

interface Envelope {
  readonly sha256: string;
  readonly deviceType: string | undefined;
  readonly topic: string;
  readonly properties: Readonly<Record<string, string>>;
}
