package dk.edigate.validator;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A standard's package closure, read from package.json dependencies breadth first: a version named nearer
 * the root wins (the standard's own package.json pins medcom core, messaging and terminology; their own
 * dependencies on older versions of the same packages are overridden, as MedCom's IG publisher does).
 */
final class Closure {
  /** The base packages whose content HAPI ships (R4 core) or that are not needed offline. */
  static final Set<String> PROVIDED_BY_HAPI =
      Set.of("hl7.fhir.r4.core", "hl7.terminology.r4", "hl7.fhir.uv.extensions.r4");

  record Skipped(String id, String version, String reason) {}

  final List<PackageFolder.Pkg> packages = new ArrayList<>();
  final List<Skipped> skipped = new ArrayList<>();

  static Closure resolve(PackageFolder folder, PackageFolder.Pkg root) {
    Closure c = new Closure();
    Map<String, String> chosen = new LinkedHashMap<>();
    Deque<PackageFolder.Pkg> queue = new ArrayDeque<>();
    chosen.put(root.id(), root.version());
    queue.add(root);
    while (!queue.isEmpty()) {
      PackageFolder.Pkg pkg = queue.removeFirst();
      c.packages.add(pkg);
      List<PackageFolder.Pkg> next = new ArrayList<>();
      for (Map.Entry<String, String> dep : pkg.dependencies().entrySet()) {
        String id = dep.getKey();
        String version = dep.getValue();
        if (chosen.containsKey(id)) {
          continue; // a nearer (or earlier) pin wins
        }
        chosen.put(id, version);
        if (PROVIDED_BY_HAPI.contains(id)) {
          c.skipped.add(new Skipped(id, version, id.equals("hl7.fhir.r4.core")
              ? "provided by hapi-fhir-validation-resources-r4"
              : "not installed: offline terminology (unknown code systems are warnings)"));
          continue;
        }
        PackageFolder.Pkg found = folder.get(id, version);
        if (found == null) {
          c.skipped.add(new Skipped(id, version, "not in the package folder"
              + (folder.versionsOf(id).isEmpty() ? "" : " (present: " + folder.versionsOf(id) + ")")));
          continue;
        }
        next.add(found);
      }
      queue.addAll(next);
    }
    return c;
  }
}
