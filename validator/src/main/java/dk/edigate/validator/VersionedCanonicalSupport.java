package dk.edigate.validator;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.BaseValidationSupport;
import org.hl7.fhir.instance.model.api.IBaseResource;

/**
 * MedCom's profiles name targets as versioned canonicals ({@code .../StructureDefinition/Organization|4.0.1});
 * HAPI's R4 core support stores them unversioned. One context holds exactly one version of each canonical
 * (that is why each standard has its own), so the bare URL names the same resource: look it up without
 * the version. Last in the chain, so an exact match always wins.
 */
final class VersionedCanonicalSupport extends BaseValidationSupport {
  private final IValidationSupport chain;

  VersionedCanonicalSupport(FhirContext ctx, IValidationSupport chain) {
    super(ctx);
    this.chain = chain;
  }

  @Override
  public String getName() {
    return "edigate versioned canonical fallback";
  }

  private static String bare(String url) {
    if (url == null) {
      return null;
    }
    int bar = url.indexOf('|');
    return bar > 0 ? url.substring(0, bar) : null;
  }

  @Override
  public IBaseResource fetchStructureDefinition(String url) {
    String b = bare(url);
    return b == null ? null : chain.fetchStructureDefinition(b);
  }

  @Override
  public IBaseResource fetchValueSet(String url) {
    String b = bare(url);
    return b == null ? null : chain.fetchValueSet(b);
  }

  @Override
  public IBaseResource fetchCodeSystem(String url) {
    String b = bare(url);
    return b == null ? null : chain.fetchCodeSystem(b);
  }
}
