import type { MqttClient, PacketCallback } from 'mqtt';
import { encodePublish, type PublishProperties, type PublishTemplate } from './publish-encoding.js';

/** What mqtt.js keeps private but a direct write must respect: its queue of publishes not yet sent. */
interface ClientInternals {
  _storeProcessing?: boolean;
  _storeProcessingQueue?: unknown[];
}

const noop = () => undefined;

/**
 * QoS 1 PUBLISHes encoded here (publish-encoding.ts) and written to mqtt.js's stream together, one
 * write per pump, instead of one client.publish() each (mqtt-packet: ~30 stream writes per packet,
 * 16 % of the daemon's busy time under telemetry load).
 *
 * Everything else stays mqtt.js's: the packet identifier comes from its messageIdProvider, the
 * callback waits in client.outgoing and the packet in its outgoingStore exactly as publish() leaves
 * them, so its PUBACK handling (reason codes, the callback, freeing the identifier), its
 * 'Connection closed' on a lost connection and its outgoing store behave as for its own publishes.
 * When the client is not in the state where publish() would write at once (not connected, closing,
 * replaying its store), add() declines and the caller uses publish().
 */
export class DirectPublisher {
  #client: MqttClient | undefined;
  #packets: Buffer[] = [];
  #bytes = 0;

  /** Queues a PUBLISH of `payload` for write(); false when the client must publish it itself. */
  add(
    client: MqttClient,
    template: PublishTemplate,
    topic: string,
    payload: Buffer,
    properties: PublishProperties,
    callback: PacketCallback,
  ): boolean {
    const internals = client as unknown as ClientInternals;
    if (
      !client.connected ||
      client.disconnecting ||
      internals._storeProcessing ||
      (internals._storeProcessingQueue?.length ?? 0) > 0 ||
      (this.#client !== undefined && this.#client !== client)
    )
      return false;
    const messageId = client.messageIdProvider.allocate();
    if (messageId === null) return false;
    const packet = encodePublish(template, messageId, payload);
    client.outgoing[messageId] = { volatile: false, cmd: 'publish', cb: callback };
    // As publish() stores it: the PUBACK deletes it from here before the callback runs.
    client.outgoingStore.put(
      { cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false, messageId, properties },
      noop,
    );
    this.#client = client;
    this.#packets.push(packet);
    this.#bytes += packet.length;
    return true;
  }

  /** Writes what add() queued, in one write. */
  write(): void {
    const client = this.#client;
    const packets = this.#packets;
    this.#client = undefined;
    if (!client || packets.length === 0) return;
    this.#packets = [];
    const bytes = packets.length === 1 ? (packets[0] as Buffer) : Buffer.concat(packets, this.#bytes);
    this.#bytes = 0;
    client.stream.write(bytes);
  }
}
