/** How a MosquittoBroker is set up (fixed at start). */
export interface MosquittoBrokerOptions {
  /**
   * Where mosquitto.conf, the broker's own certificates and (with `persistence`) its session database
   * go. Default: a new temporary directory, removed by stop().
   */
  dir?: string;
  /** PEM files of the CAs whose client certificates the broker accepts (give roots), besides its own backend CA. */
  caFiles: string[];
  /** The broker's TLS certificate (PEM). Default: made with openssl for 127.0.0.1/localhost. */
  serverCert?: string;
  /** Its private key (PEM); required together with serverCert. */
  serverKey?: string;
  /** PEM of the CA that issued serverCert: what `caPem` gives clients. Default serverCert itself (self-signed). */
  serverCa?: string;
  /** Listen address. Default 127.0.0.1. */
  host?: string;
  /** Listen port. Default: a free port picked at start (kept by pause/resume and restart). */
  port?: number;
  /**
   * Keep sessions, subscriptions and queued messages across pause/resume and restart (mosquitto
   * saves them when it stops). Default false: a restart forgets everything, like a broker crash.
   */
  persistence?: boolean;
  /** 'tlsv1.2' pins TLS 1.2 (the broker then refuses unknown client CAs inside the handshake). Default any. */
  tlsVersion?: 'tlsv1.2' | 'tlsv1.3';
  /**
   * QoS 1/2 messages in flight per client (mosquitto's max_inflight_messages, announced as the MQTT 5
   * Receive Maximum): it caps a publisher's window. Default mosquitto's own, 20.
   */
  maxInflightMessages?: number;
  /** Messages mosquitto queues per offline durable session (its default of 1000 drops QoS 1 beyond). */
  maxQueuedMessages?: number;
  /** The mosquitto executable. Default `mosquitto` from PATH. */
  binary?: string;
  /** Also log_type debug: the log then names each control packet (e.g. "Received PINGREQ from …"). */
  debugLog?: boolean;
}
