package dk.edigate.validator;

import java.io.IOException;
import java.io.InputStream;

/**
 * The parent-death watch: a daemon thread that reads stdin until end of file, then exits the JVM (the
 * shutdown hook stops the HTTP server). The parent holds the pipe's only write end; the kernel closes it
 * when the parent dies however it dies, so this works where a signal-based clean-up cannot (SIGKILL,
 * OOM killer). Anything the parent writes is ignored.
 */
final class ParentWatch {
  private ParentWatch() {}

  static Thread start(InputStream in) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[256];
      try {
        while (in.read(buf) >= 0) {
          // not a command channel: only the end of file matters
        }
      } catch (IOException e) {
        // a broken pipe means the same: the parent is gone
      }
      System.err.println("edigate-fhir-validator: stdin closed (the parent process is gone): exiting");
      System.exit(0);
    }, "parent-watch");
    t.setDaemon(true);
    t.start();
    return t;
  }
}
