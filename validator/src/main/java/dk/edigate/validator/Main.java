package dk.edigate.validator;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * edigate's FHIR validator: {@code java -jar edigate-fhir-validator.jar --packages DIR [--port N]
 * [--threads N] [--standard Name=package-id#version ...]}. Loads one validation context per MedCom standard,
 * validates one example per context (warm-up), then serves HTTP on 127.0.0.1 and prints
 * {@code READY port=N} on stdout. Exit status 2 on a usage or package error (the reason on stderr).
 *
 * <p>With {@code --exit-on-stdin-eof} it exits as soon as its stdin reaches end of file: edigate holds the
 * write end of that pipe, so a parent that dies in any way (even SIGKILL, which runs no clean-up) takes its
 * validator with it instead of leaving an orphan JVM holding a gigabyte and a port.
 */
public final class Main {
  /** The standards edigate takes and their root package ids (version: pinned by --standard, else newest). */
  static final Map<String, String> DEFAULT_STANDARDS = new LinkedHashMap<>();

  static {
    DEFAULT_STANDARDS.put("CareCommunication", "medcom.fhir.dk.carecommunication");
    DEFAULT_STANDARDS.put("HospitalNotification", "medcom.fhir.dk.hospitalnotification");
    DEFAULT_STANDARDS.put("Acknowledgement", "medcom.fhir.dk.acknowledgement");
  }

  private Main() {}

  public static void main(String[] args) throws Exception {
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    // JDK 17's com.sun.net.httpserver writes a response's headers and its body as two TCP segments and leaves
    // Nagle's algorithm on: on a kept-alive connection the body then waits for the client's delayed ACK of the
    // headers, 40 ms on Linux, for every validation edigate asks for (openjdk PR 18667). Read by the server's
    // configuration when its class loads, so it must be set before the server is created.
    System.setProperty("sun.net.httpserver.nodelay", "true");
    Options options;
    try {
      options = Options.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("edigate-fhir-validator: " + e.getMessage());
      System.err.println(Options.USAGE);
      System.exit(2);
      return;
    }
    if (options.exitOnStdinEof) {
      ParentWatch.start(System.in);
    }
    long started = System.nanoTime();
    Map<String, StandardContext> contexts;
    try {
      contexts = load(options);
    } catch (Exception e) {
      System.err.println("edigate-fhir-validator: cannot load packages: " + e.getMessage());
      System.exit(2);
      return;
    }
    long loadedMs = (System.nanoTime() - started) / 1_000_000;
    if (options.warmUp) {
      warmUp(contexts);
    }
    long readyMs = (System.nanoTime() - started) / 1_000_000;
    Server server = new Server(contexts, options, loadedMs, readyMs);
    int port = server.start();
    System.out.println("READY port=" + port + " standards=" + String.join(",", contexts.keySet())
        + " load_ms=" + loadedMs + " ready_ms=" + readyMs);
    System.out.flush();
    Runtime.getRuntime().addShutdownHook(new Thread(server::stop, "shutdown"));
  }

  /** The contexts, built in parallel (each parses its own closure; they share nothing). */
  static Map<String, StandardContext> load(Options options) throws Exception {
    PackageFolder folder = new PackageFolder(options.packages);
    Map<String, PackageFolder.Pkg> roots = new LinkedHashMap<>();
    Map<String, String> wanted = options.standards.isEmpty() ? defaults() : options.standards;
    for (Map.Entry<String, String> e : wanted.entrySet()) {
      String spec = e.getValue();
      String id = spec.contains("#") ? spec.substring(0, spec.indexOf('#')) : spec;
      PackageFolder.Pkg pkg = spec.contains("#")
          ? folder.get(id, spec.substring(spec.indexOf('#') + 1))
          : folder.newest(id);
      if (pkg == null) {
        throw new IllegalStateException(e.getKey() + ": package " + spec + " is not in " + options.packages
            + (folder.versionsOf(id).isEmpty() ? "" : " (present: " + folder.versionsOf(id) + ")"));
      }
      roots.put(e.getKey(), pkg);
    }
    StandardContext.Core core = StandardContext.Core.load();
    ExecutorService pool = Executors.newFixedThreadPool(Math.min(roots.size(), 3));
    try {
      Map<String, Future<StandardContext>> futures = new LinkedHashMap<>();
      for (Map.Entry<String, PackageFolder.Pkg> e : roots.entrySet()) {
        futures.put(e.getKey(), pool.submit(() -> new StandardContext(e.getKey(), folder, e.getValue(), core)));
      }
      Map<String, StandardContext> out = new LinkedHashMap<>();
      for (Map.Entry<String, Future<StandardContext>> e : futures.entrySet()) {
        try {
          out.put(e.getKey(), e.getValue().get());
        } catch (java.util.concurrent.ExecutionException ex) {
          Throwable cause = ex.getCause();
          throw new IllegalStateException(e.getKey() + ": " + cause.getClass().getSimpleName() + ": "
              + cause.getMessage(), cause);
        }
      }
      return out;
    } finally {
      pool.shutdown();
    }
  }

  static Map<String, String> defaults() {
    return new LinkedHashMap<>(DEFAULT_STANDARDS);
  }

  /** One validation per context, in parallel: loads snapshots, FHIRPath invariants and value sets. */
  static void warmUp(Map<String, StandardContext> contexts) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(Math.min(contexts.size(), 3));
    try {
      List<Future<?>> futures = new ArrayList<>();
      for (StandardContext c : contexts.values()) {
        futures.add(pool.submit(c::warmUp));
      }
      for (Future<?> f : futures) {
        f.get();
      }
    } finally {
      pool.shutdown();
    }
  }

  /** Command-line options. */
  static final class Options {
    static final String USAGE = "usage: java -jar edigate-fhir-validator.jar --packages DIR [--host 127.0.0.1]"
        + " [--port 0] [--threads 2] [--max-bytes N] [--no-warmup] [--exit-on-stdin-eof]"
        + " [--standard Name=package-id#version]...";
    Path packages;
    String host = "127.0.0.1";
    int port = 0;
    int threads = 2;
    long maxBytes = 128L * 1024 * 1024;
    boolean warmUp = true;
    boolean exitOnStdinEof = false;
    final Map<String, String> standards = new LinkedHashMap<>();

    static Options parse(String[] args) {
      Options o = new Options();
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        if (a.equals("--no-warmup")) {
          o.warmUp = false;
          continue;
        }
        if (a.equals("--exit-on-stdin-eof")) {
          o.exitOnStdinEof = true;
          continue;
        }
        if (i + 1 >= args.length) {
          throw new IllegalArgumentException(a + ": needs a value");
        }
        String v = args[++i];
        switch (a) {
          case "--packages" -> o.packages = Path.of(v);
          case "--host" -> o.host = v;
          case "--port" -> o.port = intArg(a, v, 0, 65535);
          case "--threads" -> o.threads = intArg(a, v, 1, 256);
          case "--max-bytes" -> o.maxBytes = intArg(a, v, 1024, Integer.MAX_VALUE);
          case "--standard" -> {
            int eq = v.indexOf('=');
            if (eq <= 0 || eq == v.length() - 1) {
              throw new IllegalArgumentException("--standard: expected Name=package-id#version, got " + v);
            }
            o.standards.put(v.substring(0, eq), v.substring(eq + 1));
          }
          default -> throw new IllegalArgumentException("unknown option " + a);
        }
      }
      if (o.packages == null) {
        throw new IllegalArgumentException("--packages is required");
      }
      return o;
    }

    private static int intArg(String name, String v, int min, int max) {
      try {
        int n = Integer.parseInt(v);
        if (n < min || n > max) {
          throw new IllegalArgumentException(name + ": must be between " + min + " and " + max);
        }
        return n;
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(name + ": not an integer: " + v);
      }
    }
  }
}
