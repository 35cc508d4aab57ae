package dk.edigate.validator;

import ca.uhn.fhir.util.VersionUtil;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.hl7.fhir.utilities.validation.ValidationMessage;

/**
 * The loopback HTTP API. {@code POST /validate?standard=Name} with a Bundle as application/fhir+json or
 * application/fhir+xml answers 200 with an OperationOutcome (the reference validator's issues; the caller
 * decides: errors refuse, warnings pass). {@code GET /health} lists the loaded standards and packages.
 * At most {@code threads} validations run at once; /health is answered beside them.
 */
final class Server {
  private static final Pattern XML_DTD = Pattern.compile("<!(DOCTYPE|ENTITY)", Pattern.CASE_INSENSITIVE);
  private static final String LINE_EXT = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line";
  private static final String COL_EXT = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col";

  private final Map<String, StandardContext> contexts;
  private final Main.Options options;
  private final long loadMs;
  private final long readyMs;
  private final Semaphore validations;
  private final AtomicLong validated = new AtomicLong();
  private HttpServer http;
  private ExecutorService executor;

  Server(Map<String, StandardContext> contexts, Main.Options options, long loadMs, long readyMs) {
    this.contexts = contexts;
    this.options = options;
    this.loadMs = loadMs;
    this.readyMs = readyMs;
    this.validations = new Semaphore(options.threads, true);
  }

  int start() throws IOException {
    http = HttpServer.create(new InetSocketAddress(options.host, options.port), 256);
    int httpThreads = options.threads + 4;
    executor = new ThreadPoolExecutor(httpThreads, httpThreads, 60, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
        r -> {
          Thread t = new Thread(r, "http");
          t.setDaemon(true);
          return t;
        });
    http.setExecutor(executor);
    http.createContext("/validate", this::handleValidate);
    http.createContext("/health", this::handleHealth);
    http.createContext("/convert", this::handleConvert);
    http.createContext("/", ex -> send(ex, 404, problem("not-found", "no such endpoint: " + ex.getRequestURI().getPath())));
    http.start();
    return http.getAddress().getPort();
  }

  void stop() {
    if (http != null) {
      http.stop(1);
    }
    if (executor != null) {
      executor.shutdownNow();
    }
  }

  private void handleHealth(HttpExchange ex) throws IOException {
    ObjectNode body = PackageFolder.JSON.createObjectNode();
    body.put("status", "ok");
    body.put("hapi_fhir", VersionUtil.getVersion());
    body.put("package_dir", options.packages.toAbsolutePath().toString());
    body.put("threads", options.threads);
    body.put("load_ms", loadMs);
    body.put("ready_ms", readyMs);
    body.put("validated", validated.get());
    // edigate's changes to the HL7 engine at work (see org.hl7.fhir.validation.instance.InstanceValidator)
    body.putObject("engine")
        .put("reference_targets_validated",
            org.hl7.fhir.validation.instance.InstanceValidator.EDIGATE_TARGETS_VALIDATED.get())
        .put("reference_targets_reused",
            org.hl7.fhir.validation.instance.InstanceValidator.EDIGATE_TARGETS_REUSED.get());
    ObjectNode standards = body.putObject("standards");
    for (StandardContext c : contexts.values()) {
      ObjectNode s = standards.putObject(c.name);
      s.put("package", c.root.id());
      s.put("version", c.root.version());
      s.put("profile", c.bundleProfile);
      s.put("resources", c.resourcesLoaded);
      ArrayNode closure = s.putArray("closure");
      for (PackageFolder.Pkg p : c.closure.packages) {
        closure.addObject().put("id", p.id()).put("version", p.version());
      }
      ArrayNode skipped = s.putArray("skipped");
      for (Closure.Skipped p : c.closure.skipped) {
        skipped.addObject().put("id", p.id()).put("version", p.version()).put("reason", p.reason());
      }
    }
    send(ex, 200, body);
  }

  /**
   * {@code POST /convert} (Content-Type in, Accept out: application/fhir+json or +xml): HAPI's parsers
   * re-encode a resource, e.g. for tests that send the XML form of a JSON example. Not used for messages.
   */
  private void handleConvert(HttpExchange ex) throws IOException {
    try (ex) {
      String from = format(ex.getRequestHeaders().getFirst("Content-Type"));
      String to = format(ex.getRequestHeaders().getFirst("Accept"));
      if (!ex.getRequestMethod().equals("POST") || from == null || to == null) {
        send(ex, 415, problem("not-supported", "POST with Content-Type and Accept application/fhir+json or +xml"));
        return;
      }
      byte[] body = readLimited(ex.getRequestBody(), options.maxBytes);
      if (body == null) {
        send(ex, 413, problem("too-costly", "body larger than " + options.maxBytes + " bytes"));
        return;
      }
      String text = new String(body, StandardCharsets.UTF_8);
      String precheck = precheck(text, from);
      if (precheck != null) {
        send(ex, 400, problem("structure", precheck));
        return;
      }
      ca.uhn.fhir.context.FhirContext ctx = contexts.values().iterator().next().fhirContext();
      String out;
      try {
        org.hl7.fhir.instance.model.api.IBaseResource resource =
            (from.equals("json") ? ctx.newJsonParser() : ctx.newXmlParser()).parseResource(text);
        out = (to.equals("json") ? ctx.newJsonParser() : ctx.newXmlParser()).setPrettyPrint(true)
            .encodeResourceToString(resource);
      } catch (RuntimeException e) {
        send(ex, 400, problem("structure", "cannot parse: " + e.getClass().getSimpleName()));
        return;
      }
      byte[] bytes = out.getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("Content-Type", "application/fhir+" + to + "; charset=utf-8");
      ex.sendResponseHeaders(200, bytes.length);
      try (OutputStream os = ex.getResponseBody()) {
        os.write(bytes);
      }
    }
  }

  private void handleValidate(HttpExchange ex) throws IOException {
    try (ex) {
      if (!ex.getRequestMethod().equals("POST")) {
        ex.getResponseHeaders().add("Allow", "POST");
        send(ex, 405, problem("not-supported", "use POST"));
        return;
      }
      String standard = query(ex.getRequestURI().getRawQuery()).get("standard");
      StandardContext context = standard == null ? null : contexts.get(standard);
      if (context == null) {
        send(ex, 400, problem("not-supported", "unknown standard " + (standard == null ? "(none)" : "'" + standard + "'")
            + "; known: " + String.join(", ", contexts.keySet())));
        return;
      }
      String format = format(ex.getRequestHeaders().getFirst("Content-Type"));
      if (format == null) {
        send(ex, 415, problem("not-supported", "Content-Type must be application/fhir+json or application/fhir+xml"));
        return;
      }
      byte[] body = readLimited(ex.getRequestBody(), options.maxBytes);
      if (body == null) {
        send(ex, 413, problem("too-costly", "body larger than " + options.maxBytes + " bytes"));
        return;
      }
      String text = new String(body, StandardCharsets.UTF_8);
      if (text.startsWith("\uFEFF")) {
        text = text.substring(1);
      }
      String precheck = precheck(text, format);
      if (precheck != null) {
        send(ex, 200, outcome(List.of(), precheck));
        return;
      }
      List<ValidationMessage> messages;
      validations.acquireUninterruptibly();
      try {
        messages = context.validate(text);
      } catch (StackOverflowError e) {
        send(ex, 200, outcome(List.of(), "the document is nested too deeply to validate"));
        return;
      } catch (RuntimeException e) {
        send(ex, 200, outcome(List.of(), "the validator could not read the document: " + e.getClass().getSimpleName()
            + (e.getMessage() == null ? "" : ": " + truncate(e.getMessage(), 300))));
        return;
      } finally {
        validations.release();
      }
      validated.incrementAndGet();
      send(ex, 200, outcome(messages, null));
    } catch (OutOfMemoryError e) {
      send(ex, 503, problem("transient", "validator out of memory"));
    }
  }

  /** A fatal problem found before the HL7 engine runs (wrong syntax for the Content-Type, DTDs), or null. */
  static String precheck(String text, String format) {
    String head = text.stripLeading();
    if (head.isEmpty()) {
      return "the body is empty";
    }
    char first = head.charAt(0);
    if (format.equals("json") && first != '{') {
      return "the body is not FHIR JSON (it does not start with '{') although its Content-Type says JSON";
    }
    if (format.equals("xml")) {
      if (first != '<') {
        return "the body is not FHIR XML (it does not start with '<') although its Content-Type says XML";
      }
      if (XML_DTD.matcher(text).find()) {
        return "FHIR XML must not contain a DOCTYPE or ENTITY declaration";
      }
    }
    return null;
  }

  static String format(String contentType) {
    if (contentType == null) {
      return null;
    }
    String mime = contentType.split(";", 2)[0].trim().toLowerCase(Locale.ROOT);
    return switch (mime) {
      case "application/fhir+json", "application/json", "application/json+fhir" -> "json";
      case "application/fhir+xml", "application/xml", "text/xml", "application/xml+fhir" -> "xml";
      default -> null;
    };
  }

  static ObjectNode outcome(List<ValidationMessage> messages, String fatal) {
    ObjectNode oo = PackageFolder.JSON.createObjectNode();
    oo.put("resourceType", "OperationOutcome");
    ArrayNode issues = oo.putArray("issue");
    if (fatal != null) {
      issues.addObject().put("severity", "fatal").put("code", "structure").put("diagnostics", fatal);
    }
    for (ValidationMessage m : messages) {
      ObjectNode issue = issues.addObject();
      issue.put("severity", m.getLevel() == null ? "error" : m.getLevel().toCode());
      issue.put("code", m.getType() == null ? "processing" : m.getType().toCode());
      issue.put("diagnostics", m.getMessage() == null ? "" : m.getMessage());
      if (m.getMessageId() != null) {
        issue.putObject("details").put("text", m.getMessageId());
      }
      if (m.getLocation() != null && !m.getLocation().isEmpty()) {
        issue.putArray("expression").add(m.getLocation());
      }
      if (m.getLine() > 0) {
        ArrayNode ext = issue.putArray("extension");
        ext.addObject().put("url", LINE_EXT).put("valueInteger", m.getLine());
        ext.addObject().put("url", COL_EXT).put("valueInteger", m.getCol());
      }
    }
    if (issues.isEmpty()) {
      issues.addObject().put("severity", "information").put("code", "informational").put("diagnostics", "No issues");
    }
    return oo;
  }

  private static ObjectNode problem(String code, String text) {
    ObjectNode oo = PackageFolder.JSON.createObjectNode();
    oo.put("resourceType", "OperationOutcome");
    oo.putArray("issue").addObject().put("severity", "error").put("code", code).put("diagnostics", text);
    return oo;
  }

  private static Map<String, String> query(String raw) {
    Map<String, String> out = new java.util.HashMap<>();
    if (raw == null) {
      return out;
    }
    for (String part : raw.split("&")) {
      int eq = part.indexOf('=');
      if (eq > 0) {
        out.put(URLDecoder.decode(part.substring(0, eq), StandardCharsets.UTF_8),
            URLDecoder.decode(part.substring(eq + 1), StandardCharsets.UTF_8));
      }
    }
    return out;
  }

  private static byte[] readLimited(InputStream in, long max) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[65536];
    long total = 0;
    int n;
    while ((n = in.read(buf)) >= 0) {
      total += n;
      if (total > max) {
        return null;
      }
      out.write(buf, 0, n);
    }
    return out.toByteArray();
  }

  private static String truncate(String s, int n) {
    return s.length() <= n ? s : s.substring(0, n) + "…";
  }

  private static void send(HttpExchange ex, int status, ObjectNode body) throws IOException {
    byte[] bytes = PackageFolder.JSON.writeValueAsBytes(body);
    String type = body.has("resourceType") ? "application/fhir+json" : "application/json";
    ex.getResponseHeaders().set("Content-Type", type + "; charset=utf-8");
    ex.sendResponseHeaders(status, bytes.length);
    try (OutputStream os = ex.getResponseBody()) {
      os.write(bytes);
    }
  }
}
