package dk.edigate.validator;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.parser.IParser;
import ca.uhn.fhir.validation.ValidationContext;
import ca.uhn.fhir.validation.ValidationOptions;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.UnknownCodeSystemWarningValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r5.utils.validation.constants.BestPracticeWarningLevel;
import org.hl7.fhir.utilities.validation.ValidationMessage;

/**
 * One MedCom message standard's validation context: its own FhirContext and a HAPI validation support
 * chain holding R4 core (hapi-fhir-validation-resources-r4) plus exactly the standard's package closure.
 * The standards pin different versions of the same MedCom packages (same canonical URLs), so they never
 * share a chain. Terminology is in-memory only: no terminology server, and a code system that is not
 * installed (SNOMED CT, SKS, hl7.terminology) gives a warning, not an error.
 */
final class StandardContext {
  static final Set<String> CONFORMANCE_TYPES =
      Set.of("StructureDefinition", "ValueSet", "CodeSystem", "ConceptMap", "NamingSystem");

  final String name;
  final PackageFolder.Pkg root;
  final Closure closure;
  final String bundleProfile;
  final int resourcesLoaded;
  private final FhirContext ctx;
  private final IssueTypedValidator validator;
  private final List<byte[]> examples;

  /**
   * R4 core, parsed once and shared by every standard's chain (it is the same for all of them and the
   * biggest part of the start-up); the FhirContext is shared with it, as HAPI requires.
   */
  record Core(FhirContext ctx, DefaultProfileValidationSupport profiles, CommonCodeSystemsTerminologyService common) {
    static Core load() {
      FhirContext ctx = FhirContext.forR4();
      ctx.setParserErrorHandler(new ca.uhn.fhir.parser.LenientErrorHandler(false));
      DefaultProfileValidationSupport profiles = new DefaultProfileValidationSupport(ctx);
      profiles.fetchAllStructureDefinitions(); // parse now, in one thread, before the standards load
      profiles.fetchAllConformanceResources();
      return new Core(ctx, profiles, new CommonCodeSystemsTerminologyService(ctx));
    }
  }

  StandardContext(String name, PackageFolder folder, PackageFolder.Pkg root, Core core) throws IOException {
    this.name = name;
    this.root = root;
    this.closure = Closure.resolve(folder, root);
    this.ctx = core.ctx();
    IParser parser = ctx.newJsonParser();
    PrePopulatedValidationSupport packages = new PrePopulatedValidationSupport(ctx);
    String[] profile = new String[1];
    int loaded = 0;
    for (PackageFolder.Pkg pkg : closure.packages) {
      List<IBaseResource> resources = new ArrayList<>();
      List<String> bundleProfiles = new ArrayList<>();
      PackageFolder.forEachPackageFile(pkg, (file, bytes) -> {
        JsonNode node;
        try {
          node = PackageFolder.JSON.readTree(bytes);
        } catch (IOException e) {
          return; // .index.json and the like are JSON; anything else is not a resource
        }
        String type = node.path("resourceType").asText("");
        if (!CONFORMANCE_TYPES.contains(type)) {
          return;
        }
        resources.add(parser.parseResource(new String(bytes, StandardCharsets.UTF_8)));
        if (type.equals("StructureDefinition") && node.path("type").asText().equals("Bundle")
            && node.path("derivation").asText().equals("constraint")) {
          bundleProfiles.add(node.path("url").asText());
        }
      });
      for (IBaseResource r : resources) {
        packages.addResource(r);
      }
      loaded += resources.size();
      if (pkg == root && bundleProfiles.size() == 1) {
        profile[0] = bundleProfiles.get(0);
      }
    }
    if (profile[0] == null) {
      throw new IOException(root.key() + ": no single Bundle profile in the package");
    }
    this.bundleProfile = profile[0];
    this.resourcesLoaded = loaded;

    UnknownCodeSystemWarningValidationSupport unknownCodeSystems = new UnknownCodeSystemWarningValidationSupport(ctx);
    unknownCodeSystems.setNonExistentCodeSystemSeverity(IValidationSupport.IssueSeverity.WARNING);
    ValidationSupportChain chain = new ValidationSupportChain(
        packages,
        core.profiles(),
        core.common(),
        new InMemoryTerminologyServerValidationSupport(ctx),
        new SnapshotGeneratingValidationSupport(ctx),
        unknownCodeSystems);
    chain.addValidationSupport(new VersionedCanonicalSupport(ctx, chain));
    this.validator = new IssueTypedValidator(chain);
    validator.setAnyExtensionsAllowed(true);
    validator.setErrorForUnknownProfiles(true);
    validator.setBestPracticeWarningLevel(BestPracticeWarningLevel.Ignore);
    validator.setNoExtensibleWarnings(true);
    this.examples = PackageFolder.exampleBundles(root);
  }

  FhirContext fhirContext() {
    return ctx;
  }

  /** The reference validator's messages for one Bundle (JSON or XML text), against the standard's profile. */
  List<ValidationMessage> validate(String text) {
    return validator.validateText(ctx, text, new ValidationOptions().addProfile(bundleProfile));
  }

  /** Validate the package's first example Bundle (or a bare Bundle) so the first real message is fast. */
  void warmUp() {
    String text = examples.isEmpty()
        ? "{\"resourceType\":\"Bundle\",\"type\":\"message\"}"
        : new String(examples.get(0), StandardCharsets.UTF_8);
    for (int i = 0; i < 2; i++) { // the second run is already fast: one run leaves the JIT cold
      long t = System.nanoTime();
      validate(text);
      System.err.println("warm-up " + name + " #" + i + ": " + (System.nanoTime() - t) / 1_000_000 + " ms");
    }
  }

  /** FhirInstanceValidator, asked for the HL7 engine's own messages so each issue keeps its IssueType. */
  static final class IssueTypedValidator extends FhirInstanceValidator {
    IssueTypedValidator(IValidationSupport support) {
      super(support);
    }

    List<ValidationMessage> validateText(FhirContext ctx, String text, ValidationOptions options) {
      return validate(ValidationContext.forText(ctx, text, options));
    }
  }
}
