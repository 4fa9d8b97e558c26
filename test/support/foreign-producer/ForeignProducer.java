import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Produces a JSON plan with Apache Kafka's own Java producer, so that tests see records exactly
 * as Java clients write them (their batching, compression, headers, transaction markers).
 *
 * <p>Usage: {@code java -cp '<kafka libs>/*:<classes>' ForeignProducer [plan.json]} (the plan is
 * read from stdin without an argument). Prints one JSON result on stdout; logging goes to stderr.
 * Exit code 0 when every step ran (records may still have failed individually: see their
 * "error"), 1 when a step failed and the plan was cut short (the result then has "error"), 2 when
 * the plan itself could not be read.
 */
public final class ForeignProducer {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Bounds one send step's wait for its acknowledgements, beyond the client's own timeouts. */
  private static final long STEP_TIMEOUT_MS = 300_000;

  private ForeignProducer() {}

  /** A record's outcome, known once its send completed. */
  private record Pending(int step, Integer transaction, CompletableFuture<RecordMetadata> future) {}

  /**
   * One transaction of the plan, from its begin step to its commit/abort step. One the plan
   * leaves open stays "open" here; closing the producer aborts it.
   */
  private static final class Transaction {
    final int beginStep;
    Integer endStep;
    int records;
    String outcome = "open";
    String error;

    Transaction(int beginStep) {
      this.beginStep = beginStep;
    }
  }

  public static void main(String[] args) {
    JsonNode plan;
    try (InputStream in = args.length > 0 ? Files.newInputStream(Path.of(args[0])) : System.in) {
      plan = JSON.readTree(in);
      check(plan != null && plan.isObject(), "the plan is not a JSON object");
    } catch (Exception e) {
      System.err.println("cannot read the plan: " + describe(e));
      System.exit(2);
      return;
    }
    int code;
    try {
      code = run(plan);
    } catch (Exception e) {
      System.err.println("cannot run the plan: " + describe(e));
      code = 2;
    }
    System.out.flush();
    // The client's threads are closed by now; exit explicitly so that nothing left over (a stuck
    // close, a non-daemon thread of a native codec) keeps the JVM alive.
    System.exit(code);
  }

  private static int run(JsonNode plan) throws Exception {
    String topic = requiredText(plan, "topic");
    Properties props = producerProperties(plan);
    boolean transactional = props.containsKey(ProducerConfig.TRANSACTIONAL_ID_CONFIG);
    JsonNode steps = plan.path("steps");
    if (!steps.isArray()) throw new IllegalArgumentException("plan.steps must be an array");

    long started = System.nanoTime();
    List<Pending> pending = new ArrayList<>();
    List<Transaction> transactions = new ArrayList<>();
    Transaction open = null;
    String failure = null;

    KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props);
    try {
      if (transactional) producer.initTransactions();
      for (int i = 0; i < steps.size(); i++) {
        JsonNode step = steps.get(i);
        if (step.has("send")) {
          // The client would take the records and then fail them, leaving their batches in its
          // accumulator with the I/O thread spinning on them until delivery.timeout.ms.
          check(
              !transactional || open != null,
              "step " + i + ": a transactional producer sends between begin and commit/abort only");
          Integer transaction = open == null ? null : transactions.size() - 1;
          List<Pending> sent = new ArrayList<>();
          for (JsonNode record : step.get("send")) {
            sent.add(send(producer, topic, record, i, transaction));
            if (open != null) open.records++;
          }
          pending.addAll(sent);
          // Every record of the step was handed to the client before this: they share batches
          // (and compression) as far as linger.ms and batch.size allow.
          producer.flush();
          awaitAll(sent);
        } else if (step.path("begin").asBoolean(false)) {
          check(open == null, "step " + i + ": a transaction is already open");
          producer.beginTransaction();
          open = new Transaction(i);
          transactions.add(open);
        } else if (step.path("commit").asBoolean(false)) {
          check(open != null, "step " + i + ": no open transaction to commit");
          open.endStep = i;
          try {
            producer.commitTransaction();
            open.outcome = "committed";
          } catch (Exception e) {
            // A failed send makes the transaction abortable only: abort it so the plan goes on.
            open.error = describe(e);
            producer.abortTransaction();
            open.outcome = "aborted";
          }
          open = null;
        } else if (step.path("abort").asBoolean(false)) {
          check(open != null, "step " + i + ": no open transaction to abort");
          open.endStep = i;
          producer.abortTransaction();
          open.outcome = "aborted";
          open = null;
        } else if (step.path("flush").asBoolean(false)) {
          producer.flush();
        } else {
          throw new IllegalArgumentException(
              "step " + i + " is none of send, begin, commit, abort, flush: " + step);
        }
      }
    } catch (Exception e) {
      failure = describe(e);
    } finally {
      try {
        producer.close(Duration.ofSeconds(30));
      } catch (Exception e) {
        if (failure == null) failure = "close: " + describe(e);
      }
    }

    ObjectNode result = JSON.createObjectNode();
    ArrayNode records = result.putArray("records");
    for (Pending p : pending) records.add(outcome(p));
    ArrayNode txs = result.putArray("transactions");
    for (Transaction t : transactions) {
      ObjectNode tx = txs.addObject();
      tx.put("beginStep", t.beginStep);
      if (t.endStep != null) tx.put("endStep", t.endStep);
      tx.put("records", t.records);
      tx.put("outcome", t.outcome);
      if (t.error != null) tx.put("error", t.error);
    }
    result.put("elapsedMs", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
    if (failure != null) result.put("error", failure);
    System.out.println(JSON.writeValueAsString(result));
    return failure == null ? 0 : 1;
  }

  private static Properties producerProperties(JsonNode plan) {
    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, requiredText(plan, "bootstrap"));
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    props.put(ProducerConfig.CLIENT_ID_CONFIG, "foreign-producer");
    props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, plan.path("compression").asText("none"));
    props.put(ProducerConfig.ACKS_CONFIG, plan.path("acks").asText("all"));
    if (plan.hasNonNull("lingerMs")) {
      props.put(ProducerConfig.LINGER_MS_CONFIG, plan.get("lingerMs").asText());
    }
    if (plan.hasNonNull("batchSize")) {
      props.put(ProducerConfig.BATCH_SIZE_CONFIG, plan.get("batchSize").asText());
    }
    if (plan.hasNonNull("idempotence")) {
      props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, plan.get("idempotence").asText());
    }
    if (plan.hasNonNull("transactionalId")) {
      props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, plan.get("transactionalId").asText());
    }
    for (Map.Entry<String, JsonNode> entry : plan.path("extraConfig").properties()) {
      if (entry.getValue().isNull()) props.remove(entry.getKey());
      else props.put(entry.getKey(), entry.getValue().asText());
    }
    return props;
  }

  private static Pending send(
      KafkaProducer<byte[], byte[]> producer,
      String topic,
      JsonNode record,
      int step,
      Integer transaction) {
    CompletableFuture<RecordMetadata> future = new CompletableFuture<>();
    try {
      Integer partition = record.hasNonNull("partition") ? record.get("partition").asInt() : null;
      Long timestamp = record.hasNonNull("timestamp") ? longOf(record.get("timestamp")) : null;
      List<Header> headers = new ArrayList<>();
      for (JsonNode header : record.path("headers")) {
        headers.add(new RecordHeader(requiredText(header, "key"), bytes(header, "value")));
      }
      // The constructor refuses a negative timestamp: that ends up as this record's error.
      ProducerRecord<byte[], byte[]> producerRecord =
          new ProducerRecord<>(
              topic, partition, timestamp, bytes(record, "key"), bytes(record, "value"), headers);
      producer.send(
          producerRecord,
          (metadata, exception) -> {
            if (exception != null) future.completeExceptionally(exception);
            else future.complete(metadata);
          });
    } catch (Exception e) {
      future.completeExceptionally(e);
    }
    return new Pending(step, transaction, future);
  }

  private static void awaitAll(List<Pending> sent) throws InterruptedException, TimeoutException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(STEP_TIMEOUT_MS);
    for (Pending p : sent) {
      try {
        p.future().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (ExecutionException e) {
        // Reported per record by outcome().
      }
    }
  }

  private static ObjectNode outcome(Pending p) {
    ObjectNode node = JSON.createObjectNode();
    node.put("step", p.step());
    if (p.transaction() != null) node.put("transaction", p.transaction());
    try {
      RecordMetadata metadata = p.future().getNow(null);
      if (metadata == null) {
        node.put("error", "not acknowledged");
        return node;
      }
      node.put("partition", metadata.partition());
      node.put("offset", metadata.offset());
      if (metadata.hasTimestamp()) node.put("timestamp", metadata.timestamp());
      node.put("serializedKeySize", metadata.serializedKeySize());
      node.put("serializedValueSize", metadata.serializedValueSize());
    } catch (Exception e) {
      node.put("error", describe(e));
    }
    return node;
  }

  /** Bytes of FIELD: FIELD + "Base64" if present, else FIELD as UTF-8; null when null or absent. */
  private static byte[] bytes(JsonNode node, String field) {
    JsonNode base64 = node.get(field + "Base64");
    if (base64 != null && !base64.isNull()) return Base64.getDecoder().decode(base64.asText());
    JsonNode text = node.get(field);
    if (text == null || text.isNull()) return null;
    if (!text.isTextual()) throw new IllegalArgumentException(field + " must be a string or null");
    return text.asText().getBytes(StandardCharsets.UTF_8);
  }

  /** A JSON number or a decimal string (JavaScript cannot write every long as a number). */
  private static long longOf(JsonNode node) {
    if (node.isTextual()) return Long.parseLong(node.asText());
    if (!node.canConvertToLong()) throw new IllegalArgumentException("not a long: " + node);
    return node.asLong();
  }

  private static String requiredText(JsonNode node, String field) {
    JsonNode value = node.get(field);
    check(value != null && value.isTextual(), field + " must be a string");
    return value.asText();
  }

  private static void check(boolean ok, String message) {
    if (!ok) throw new IllegalStateException(message);
  }

  private static String describe(Throwable e) {
    Throwable cause = e;
    while ((cause instanceof ExecutionException || cause instanceof CompletionException)
        && cause.getCause() != null) {
      cause = cause.getCause();
    }
    return cause.getClass().getName() + ": " + cause.getMessage();
  }
}
