package dk.edigate.validator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiConsumer;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * The FHIR packages an operator installed: a folder of {@code <id>-<version>.tgz} files (MedCom's package
 * site layout) and/or unpacked {@code <id>#<version>/package/} folders (the standard FHIR package cache,
 * ~/.fhir/packages). Only each package's own package.json says its id, version and dependencies.
 */
final class PackageFolder {
  static final ObjectMapper JSON = new ObjectMapper();

  /** One installed package. */
  record Pkg(String id, String version, Path path, Map<String, String> dependencies) {
    String key() {
      return id + "#" + version;
    }
  }

  private final Path dir;
  private final Map<String, Map<String, Pkg>> byId = new TreeMap<>();

  PackageFolder(Path dir) throws IOException {
    this.dir = dir;
    if (!Files.isDirectory(dir)) {
      throw new IOException("package folder not found: " + dir);
    }
    try (Stream<Path> entries = Files.list(dir)) {
      for (Path p : entries.sorted().toList()) {
        JsonNode manifest = null;
        String name = p.getFileName().toString();
        if (Files.isRegularFile(p) && name.endsWith(".tgz")) {
          manifest = readManifestFromTgz(p);
        } else if (Files.isRegularFile(p.resolve("package/package.json"))) {
          manifest = JSON.readTree(p.resolve("package/package.json").toFile());
        }
        if (manifest == null || !manifest.hasNonNull("name") || !manifest.hasNonNull("version")) {
          continue;
        }
        Map<String, String> deps = new LinkedHashMap<>();
        JsonNode d = manifest.path("dependencies");
        d.fieldNames().forEachRemaining(k -> deps.put(k, d.get(k).asText()));
        Pkg pkg = new Pkg(manifest.get("name").asText(), manifest.get("version").asText(), p, deps);
        byId.computeIfAbsent(pkg.id(), k -> new TreeMap<>()).put(pkg.version(), pkg);
      }
    }
  }

  Path dir() {
    return dir;
  }

  Pkg get(String id, String version) {
    Map<String, Pkg> versions = byId.get(id);
    return versions == null ? null : versions.get(version);
  }

  /** The highest version of {@code id} present (semantic order), or null. */
  Pkg newest(String id) {
    Map<String, Pkg> versions = byId.get(id);
    if (versions == null || versions.isEmpty()) {
      return null;
    }
    return versions.values().stream().max(Comparator.comparing(Pkg::version, PackageFolder::compareVersions)).get();
  }

  List<String> versionsOf(String id) {
    Map<String, Pkg> versions = byId.get(id);
    return versions == null ? List.of() : new ArrayList<>(versions.keySet());
  }

  static int compareVersions(String a, String b) {
    String[] x = a.split("[.-]");
    String[] y = b.split("[.-]");
    for (int i = 0; i < Math.max(x.length, y.length); i++) {
      String p = i < x.length ? x[i] : "0";
      String q = i < y.length ? y[i] : "0";
      int c;
      if (p.matches("\\d+") && q.matches("\\d+")) {
        c = Long.compare(Long.parseLong(p), Long.parseLong(q));
      } else {
        c = p.compareTo(q);
      }
      if (c != 0) {
        return c;
      }
    }
    return 0;
  }

  /**
   * Every JSON file directly in the package's {@code package/} folder (not example/, other/ or xml/), with
   * its name; conformance resources live there.
   */
  static void forEachPackageFile(Pkg pkg, BiConsumer<String, byte[]> consumer) throws IOException {
    if (Files.isDirectory(pkg.path())) {
      try (Stream<Path> files = Files.list(pkg.path().resolve("package"))) {
        for (Path f : files.sorted().toList()) {
          if (Files.isRegularFile(f) && f.getFileName().toString().endsWith(".json")) {
            consumer.accept(f.getFileName().toString(), Files.readAllBytes(f));
          }
        }
      }
      return;
    }
    forEachTgzEntry(pkg.path(), (name, bytes) -> {
      String rest = name.startsWith("package/") ? name.substring("package/".length()) : null;
      if (rest != null && !rest.contains("/") && rest.endsWith(".json")) {
        consumer.accept(rest, bytes);
      }
    });
  }

  /** The example resources of a package ({@code package/example/*.json}), used for the warm-up. */
  static List<byte[]> exampleBundles(Pkg pkg) throws IOException {
    List<byte[]> out = new ArrayList<>();
    if (Files.isDirectory(pkg.path())) {
      Path ex = pkg.path().resolve("package/example");
      if (Files.isDirectory(ex)) {
        try (Stream<Path> files = Files.list(ex)) {
          for (Path f : files.sorted().toList()) {
            if (f.getFileName().toString().startsWith("Bundle-") && f.toString().endsWith(".json")) {
              out.add(Files.readAllBytes(f));
            }
          }
        }
      }
      return out;
    }
    forEachTgzEntry(pkg.path(), (name, bytes) -> {
      if (name.startsWith("package/example/Bundle-") && name.endsWith(".json")) {
        out.add(bytes);
      }
    });
    return out;
  }

  private static JsonNode readManifestFromTgz(Path tgz) throws IOException {
    JsonNode[] found = new JsonNode[1];
    forEachTgzEntry(tgz, (name, bytes) -> {
      if (found[0] == null && name.equals("package/package.json")) {
        try {
          found[0] = JSON.readTree(bytes);
        } catch (IOException e) {
          throw new IllegalStateException(tgz + ": package/package.json is not JSON", e);
        }
      }
    });
    return found[0];
  }

  private static void forEachTgzEntry(Path tgz, BiConsumer<String, byte[]> consumer) throws IOException {
    try (InputStream in = Files.newInputStream(tgz);
        GZIPInputStream gz = new GZIPInputStream(in);
        TarArchiveInputStream tar = new TarArchiveInputStream(gz)) {
      TarArchiveEntry entry;
      while ((entry = tar.getNextEntry()) != null) {
        if (!entry.isFile()) {
          continue;
        }
        String name = entry.getName().replace('\\', '/');
        while (name.startsWith("./")) {
          name = name.substring(2);
        }
        consumer.accept(name, tar.readAllBytes());
      }
    }
  }
}
