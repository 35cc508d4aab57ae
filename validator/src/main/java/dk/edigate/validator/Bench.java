package dk.edigate.validator;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.hl7.fhir.utilities.validation.ValidationMessage;

/**
 * In-JVM timing of the HL7 engine, no HTTP: {@code java -cp edigate-fhir-validator.jar
 * dk.edigate.validator.Bench --packages DIR --standard Name=pkg#ver ... [--repeat N] [--warmup N]
 * [--jfr FILE] Name:file.json ...}. First every case is validated {@code --warmup} times (default 2; use
 * a few hundred in all for the steady state a long-running service reaches after C2 compiled the engine),
 * then, per case, the median wall and thread-CPU milliseconds of one validation, the whole process's CPU
 * per validation (with GC and JIT threads) and the error count. With {@code --jfr} a flight recording
 * (execution samples every 10 ms) covers the measured part only, not start-up or warm-up.
 */
public final class Bench {
  private Bench() {}

  /** edigate's engine counters (reference targets validated / reused so far), where this build has them. */
  static String engineCounters() {
    try {
      Class<?> iv = Class.forName("org.hl7.fhir.validation.instance.InstanceValidator");
      Object validated = iv.getField("EDIGATE_TARGETS_VALIDATED").get(null);
      Object reused = iv.getField("EDIGATE_TARGETS_REUSED").get(null);
      return "  targets validated " + validated + " reused " + reused;
    } catch (ReflectiveOperationException e) {
      return "";
    }
  }

  public static void main(String[] args) throws Exception {
    int repeat = 20;
    int warmup = 2;
    String jfr = null;
    List<String> rest = new ArrayList<>();
    List<String> cases = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--repeat")) {
        repeat = Integer.parseInt(args[++i]);
      } else if (args[i].equals("--warmup")) {
        warmup = Integer.parseInt(args[++i]);
      } else if (args[i].equals("--jfr")) {
        jfr = args[++i];
      } else if (args[i].startsWith("--")) {
        rest.add(args[i]);
        if (!args[i].equals("--no-warmup") && !args[i].equals("--exit-on-stdin-eof")) {
          rest.add(args[++i]);
        }
      } else {
        cases.add(args[i]);
      }
    }
    Main.Options options = Main.Options.parse(rest.toArray(new String[0]));
    long t0 = System.nanoTime();
    Map<String, StandardContext> contexts = Main.load(options);
    System.out.printf("loaded in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
    List<StandardContext> caseContext = new ArrayList<>();
    List<String> caseText = new ArrayList<>();
    for (String c : cases) {
      int colon = c.indexOf(':');
      caseContext.add(contexts.get(c.substring(0, colon)));
      caseText.add(Files.readString(Path.of(c.substring(colon + 1)), StandardCharsets.UTF_8));
    }
    long w0 = System.nanoTime();
    for (int i = 0; i < warmup; i++) {
      for (int k = 0; k < cases.size(); k++) {
        caseContext.get(k).validate(caseText.get(k));
      }
    }
    System.out.printf("warm-up: %d validations per case in %d ms%n", warmup, (System.nanoTime() - w0) / 1_000_000);
    jdk.jfr.Recording recording = null;
    if (jfr != null) {
      recording = new jdk.jfr.Recording();
      recording.enable("jdk.ExecutionSample").withPeriod(java.time.Duration.ofMillis(10));
      recording.enable("jdk.ObjectAllocationSample");
      recording.setDestination(Path.of(jfr));
      recording.start();
    }
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    com.sun.management.OperatingSystemMXBean os =
        (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    for (int k = 0; k < cases.size(); k++) {
      String c = cases.get(k);
      int colon = c.indexOf(':');
      StandardContext context = caseContext.get(k);
      String text = caseText.get(k);
      long[] wall = new long[repeat];
      long[] cpu = new long[repeat];
      int errors = 0;
      long process = os.getProcessCpuTime();
      for (int i = 0; i < repeat; i++) {
        long w = System.nanoTime();
        long u = mx.getCurrentThreadCpuTime();
        List<ValidationMessage> messages = context.validate(text);
        wall[i] = System.nanoTime() - w;
        cpu[i] = mx.getCurrentThreadCpuTime() - u;
        errors = (int) messages.stream().filter(m -> m.getLevel() != null && m.getLevel().isError()).count();
      }
      process = os.getProcessCpuTime() - process;
      Arrays.sort(wall);
      Arrays.sort(cpu);
      System.out.printf("%-22s %-14s wall %7.1f ms  thread cpu %7.1f ms  process cpu %7.1f ms/msg  errors %d%s%n",
          c.substring(0, colon), Path.of(c.substring(colon + 1)).getFileName().toString().substring(0, 14),
          wall[repeat / 2] / 1e6, cpu[repeat / 2] / 1e6, process / 1e6 / repeat, errors, engineCounters());
    }
    if (recording != null) {
      recording.stop();
      recording.close();
    }
  }
}
