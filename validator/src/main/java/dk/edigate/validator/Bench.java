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
 * dk.edigate.validator.Bench --packages DIR --standard Name=pkg#ver ... --repeat N Name:file.json ...}.
 * Per file: the median wall and thread-CPU milliseconds of one validation (one thread, after two warm-up
 * runs), the whole process's CPU per validation (with GC and JIT threads) and the error count; used to find
 * where a validation's time goes and to compare engine settings and JVM flags.
 */
public final class Bench {
  private Bench() {}

  public static void main(String[] args) throws Exception {
    int repeat = 20;
    List<String> rest = new ArrayList<>();
    List<String> cases = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--repeat")) {
        repeat = Integer.parseInt(args[++i]);
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
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    com.sun.management.OperatingSystemMXBean os =
        (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    for (String c : cases) {
      int colon = c.indexOf(':');
      StandardContext context = contexts.get(c.substring(0, colon));
      String text = Files.readString(Path.of(c.substring(colon + 1)), StandardCharsets.UTF_8);
      long[] wall = new long[repeat];
      long[] cpu = new long[repeat];
      int errors = 0;
      long process = 0;
      for (int i = -2; i < repeat; i++) {
        if (i == 0) {
          process = os.getProcessCpuTime();
        }
        long w = System.nanoTime();
        long u = mx.getCurrentThreadCpuTime();
        List<ValidationMessage> messages = context.validate(text);
        if (i >= 0) {
          wall[i] = System.nanoTime() - w;
          cpu[i] = mx.getCurrentThreadCpuTime() - u;
        }
        errors = (int) messages.stream().filter(m -> m.getLevel() != null && m.getLevel().isError()).count();
      }
      process = os.getProcessCpuTime() - process;
      Arrays.sort(wall);
      Arrays.sort(cpu);
      System.out.printf("%-22s %-14s wall %7.1f ms  thread cpu %7.1f ms  process cpu %7.1f ms/msg  errors %d%n",
          c.substring(0, colon), Path.of(c.substring(colon + 1)).getFileName().toString().substring(0, 14),
          wall[repeat / 2] / 1e6, cpu[repeat / 2] / 1e6, process / 1e6 / repeat, errors);
    }
  }
}
