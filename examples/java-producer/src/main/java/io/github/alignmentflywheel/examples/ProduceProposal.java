package io.github.alignmentflywheel.examples;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;

/**
 * Produces one Avro {@code ProposalSubmitted} straight to the proposals topic, for the gate to decide.
 *
 * <p>Rules the gate relies on:
 * <ul>
 *   <li>Avro single-object encoding: {@code C3 01}, the 8-byte little-endian CRC-64-AVRO fingerprint
 *       of the writer schema's Parsing Canonical Form, then the Avro binary body. Avro's
 *       {@link BinaryMessageEncoder} writes exactly that. The writer schema must be one of the kept
 *       versions in {@code schemas/history/ProposalSubmitted/}: the gate finds it by fingerprint.</li>
 *   <li>The Kafka key is the proposal id (also {@code envelope.key}).</li>
 *   <li>The partition is the session's, chosen explicitly ({@link #sessionPartition}): Kafka's
 *       default partitioner over the UTF-8 bytes of {@code proposer_id + "\0" + session_id},
 *       where the session's events go too, so the gate decides the proposal in the session's
 *       context.</li>
 *   <li>No {@code flywheel-decided-by} header: the proposal is not decided yet.</li>
 *   <li>{@code arguments} is the UTF-8 JSON text of one object; anything else is dead-lettered.</li>
 * </ul>
 *
 * <p>Usage: {@code --bootstrap HOST:PORT --topic T --schema FILE.avsc --tool NAME --arguments JSON
 * [--proposer ID] [--session ID] [--reasoning TEXT] [--origin UNKNOWN|HUMAN|AUTOMATED]
 * [--confidence 0..1] [--blast-radius NONE|LOW|...] [--environment NAME]
 * [--username USER [--security-protocol SASL_PLAINTEXT|SASL_SSL] [--sasl-mechanism M]]}.
 * Prints the proposal id. With {@code --username} the producer authenticates with SASL (default
 * SASL_PLAINTEXT with SCRAM-SHA-512, as the local broker wants) and the password is read from the
 * {@code KAFKA_PASSWORD} environment variable, never from the command line.
 */
public final class ProduceProposal {

    private ProduceProposal() {
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> opts = parse(argv);
        Schema schema = new Schema.Parser().parse(new File(require(opts, "schema")));
        UUID proposalId = UUID.randomUUID();
        GenericRecord event = proposalSubmitted(schema, proposalId, opts);
        ByteBuffer encoded = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), schema)
                .encode(event);
        byte[] value = new byte[encoded.remaining()];
        encoded.get(value);
        GenericRecord proposal = (GenericRecord) event.get("proposal");
        String topic = require(opts, "topic");
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(config(opts))) {
            int partition = sessionPartition(proposal.get("proposer_id").toString(),
                    proposal.get("session_id").toString(), producer.partitionsFor(topic).size());
            producer.send(new ProducerRecord<>(topic, partition, proposalId.toString(), value))
                    .get(30, TimeUnit.SECONDS);
        }
        System.out.println(proposalId);
    }

    /** The partition of a session's records: murmur2 over proposer id, a zero byte, session id. */
    static int sessionPartition(String proposerId, String sessionId, int partitions) {
        byte[] key = (proposerId + "\0" + sessionId).getBytes(StandardCharsets.UTF_8);
        return Utils.toPositive(Utils.murmur2(key)) % partitions;
    }

    static GenericRecord proposalSubmitted(Schema schema, UUID proposalId, Map<String, String> opts)
            throws Exception {
        Schema proposalSchema = schema.getField("proposal").schema();
        Schema riskSchema = proposalSchema.getField("risk").schema();

        GenericRecord risk = new GenericData.Record(riskSchema);
        risk.put("origin", symbol(riskSchema, "origin", opts.getOrDefault("origin", "AUTOMATED")));
        risk.put("proposer_confidence", Double.parseDouble(opts.getOrDefault("confidence", "0.5")));
        risk.put("blast_radius",
                symbol(riskSchema, "blast_radius", opts.getOrDefault("blast-radius", "UNKNOWN")));
        risk.put("environment", opts.getOrDefault("environment", "default"));

        GenericRecord proposal = new GenericData.Record(proposalSchema);
        proposal.put("proposal_id", proposalId.toString());
        proposal.put("proposer_id", opts.getOrDefault("proposer", "java-example"));
        proposal.put("session_id", opts.getOrDefault("session", UUID.randomUUID().toString()));
        proposal.put("tool", require(opts, "tool"));
        proposal.put("arguments", require(opts, "arguments"));
        proposal.put("reasoning", opts.get("reasoning"));
        proposal.put("parent_proposal_id", null);
        proposal.put("risk", risk);

        GenericRecord envelope = new GenericData.Record(schema.getField("envelope").schema());
        envelope.put("event_id", UUID.randomUUID().toString());
        envelope.put("occurred_at", ChronoUnit.MICROS.between(Instant.EPOCH, Instant.now()));
        envelope.put("producer", "java-example@" + InetAddress.getLocalHost().getHostName() + "/"
                + ManagementFactory.getRuntimeMXBean().getPid());
        envelope.put("trace_id", UUID.randomUUID().toString().replace("-", ""));
        envelope.put("correlation_id", null);
        envelope.put("key", proposalId.toString());

        GenericRecord event = new GenericData.Record(schema);
        event.put("envelope", envelope);
        event.put("proposal", proposal);
        return event;
    }

    static GenericData.EnumSymbol symbol(Schema record, String field, String value) {
        Schema enumSchema = record.getField(field).schema();
        if (!enumSchema.hasEnumSymbol(value)) {
            throw new IllegalArgumentException(
                    field + ": " + value + " is not one of " + enumSchema.getEnumSymbols());
        }
        return new GenericData.EnumSymbol(enumSchema, value);
    }

    static Properties config(Map<String, String> opts) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, require(opts, "bootstrap"));
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        String username = opts.get("username");
        if (username != null) {
            String password = System.getenv("KAFKA_PASSWORD");
            if (password == null) {
                throw new IllegalArgumentException("--username needs KAFKA_PASSWORD in the environment");
            }
            String mechanism = opts.getOrDefault("sasl-mechanism", "SCRAM-SHA-512");
            String module = mechanism.equals("PLAIN")
                    ? "org.apache.kafka.common.security.plain.PlainLoginModule"
                    : "org.apache.kafka.common.security.scram.ScramLoginModule";
            props.put("security.protocol", opts.getOrDefault("security-protocol", "SASL_PLAINTEXT"));
            props.put("sasl.mechanism", mechanism);
            props.put("sasl.jaas.config", module + " required username=\"" + username
                    + "\" password=\"" + password + "\";");
        }
        return props;
    }

    static Map<String, String> parse(String[] argv) {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i < argv.length; i += 2) {
            if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
                throw new IllegalArgumentException("expected --name value pairs, got " + argv[i]);
            }
            opts.put(argv[i].substring(2), argv[i + 1]);
        }
        return opts;
    }

    static String require(Map<String, String> opts, String name) {
        String value = opts.get(name);
        if (value == null) {
            throw new IllegalArgumentException("missing --" + name);
        }
        return value;
    }
}
