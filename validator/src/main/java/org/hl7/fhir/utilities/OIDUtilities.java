package org.hl7.fhir.utilities;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.util.HashMap;
import java.util.Map;
import org.hl7.fhir.exceptions.FHIRException;

/**
 * edigate's replacement for org.hl7.fhir.utilities 6.7.9's OIDUtilities (same package, name and API; the
 * shaded jar takes this class instead of the dependency's one, see validator/pom.xml). The original parses
 * HL7's 1.5 MB {@code oidregistry.csv} in its constructor, and HAPI builds a new InstanceValidator, hence a new
 * OIDUtilities, for every validation: about a fifth of the CPU per message. Here the table is read once per
 * JVM, with the same parsing rules, into an unmodifiable map shared by every instance; the static helpers
 * behave exactly as the original's, so the validator's messages do not change.
 */
public class OIDUtilities {

  /** One row of oidregistry.csv (kept for API compatibility). */
  public static class OIDInfo {
    private String oid;
    private String name;
    private String codeSystem;
    private Integer type;

    public String getOid() {
      return oid;
    }

    public void setOid(String oid) {
      this.oid = oid;
    }

    public String getName() {
      return name;
    }

    public void setName(String name) {
      this.name = name;
    }

    public String getCodeSystem() {
      return codeSystem;
    }

    public void setCodeSystem(String codeSystem) {
      this.codeSystem = codeSystem;
    }

    public Integer getType() {
      return type;
    }

    public void setType(Integer type) {
      this.type = type;
    }

    @Override
    public String toString() {
      return "OID: " + oid + ", Name: " + name + ", CodeSystem: " + codeSystem + ", Type: " + type;
    }
  }

  private static final String OID_REGEX = "[0-2](\\.(0|[1-9][0-9]*))+";

  /** The table, loaded on first use (class initialisation is thread-safe and happens once). */
  private static final class Registry {
    static final Map<String, OIDInfo> OIDS = load();

    private static Map<String, OIDInfo> load() {
      Map<String, OIDInfo> map = new HashMap<>();
      try (InputStream in = OIDUtilities.class.getClassLoader().getResourceAsStream("oidregistry.csv");
          BufferedReader reader = new BufferedReader(new InputStreamReader(in))) {
        String line;
        boolean header = true;
        while ((line = reader.readLine()) != null) {
          if (header) {
            header = false;
            continue;
          }
          String[] parts = line.split(",");
          if (parts.length >= 4) {
            OIDInfo info = new OIDInfo();
            info.setOid(parts[0].trim());
            info.setType(Integer.parseInt(parts[1].trim()));
            info.setName(parts[2].trim());
            info.setCodeSystem(parts[3].trim());
            map.put(info.getOid(), info);
          }
        }
      } catch (Exception e) {
        throw new FHIRException(e);
      }
      return java.util.Collections.unmodifiableMap(map);
    }
  }

  private final Map<String, OIDInfo> oidMap;

  public OIDUtilities() {
    oidMap = Registry.OIDS;
  }

  public static String getUriForOid(String r) {
    if (r == null) {
      return null;
    }
    switch (r) {
      case "2.16.840.1.113883.6.96": return "http://snomed.info/sct";
      case "2.16.840.1.113883.6.1": return "http://loinc.org";
      case "2.16.840.1.113883.6.8": return "http://unitsofmeasure.org";
      case "2.16.840.1.113883.6.3": return "http://hl7.org/fhir/sid/icd-10";
      case "2.16.840.1.113883.6.42", "2.16.840.1.113883.6.104", "2.16.840.1.113883.6.103":
        return "http://hl7.org/fhir/sid/icd-9";
      case "2.16.840.1.113883.6.73": return "http://www.whocc.no/atc";
      case "2.16.840.1.113883.3.26.1.1", "2.16.840.1.113883.3.26.1.1.1": return "http://ncimeta.nci.nih.gov";
      case "2.16.840.1.113883.6.88": return "http://www.nlm.nih.gov/research/umls/rxnorm";
      case "2.16.840.1.113883.6.59", "2.16.840.1.113883.12.292": return "http://hl7.org/fhir/sid/cvx";
      case "2.16.840.1.113883.6.12": return "http://www.ama-assn.org/go/cpt";
      default: return null;
    }
  }

  public static String oidTail(String id) {
    if (id == null || !id.contains(".")) {
      return id;
    }
    return id.substring(id.lastIndexOf(".") + 1);
  }

  public static String oidRoot(String id) {
    if (id == null || !id.contains(".")) {
      return id;
    }
    return id.substring(0, id.indexOf("."));
  }

  public static boolean isValidOID(String oid) {
    return oid.matches(OID_REGEX);
  }

  public boolean isKnownOID(String oid) {
    if (oid == null || !oid.startsWith("urn:oid:")) {
      return false;
    }
    return oidMap.containsKey(oid.substring(8));
  }
}
