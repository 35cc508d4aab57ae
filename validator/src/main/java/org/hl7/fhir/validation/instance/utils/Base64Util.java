package org.hl7.fhir.validation.instance.utils;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.apache.commons.codec.binary.Base64InputStream;

/**
 * edigate's replacement for org.hl7.fhir.validation 6.7.9's Base64Util (same package, name and API; the shaded
 * jar takes this class instead of the dependency's one, as for OIDUtilities). The original asks
 * {@code Utilities.isWhitespace(int)} about every character of every base64 value, and that method builds a
 * new 25-element array per call to search it: a tenth of the CPU of a CareCommunication with an attachment.
 * {@link #isWhitespace} here answers for exactly the same 25 code points without allocating (checked against
 * the original for every char value by {@code dk.edigate.validator.Bench --self-check}); the rest is the
 * original's logic, so the validator's messages do not change.
 */
public class Base64Util {

  /** The code points org.hl7.fhir.utilities.Utilities.isWhitespace(int) 6.7.9 lists, in its order. */
  static final int[] WHITESPACE = {
    9, 10, 11, 12, 13, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202,
    8232, 8233, 8239, 8287, 12288
  };

  /** Utilities.isWhitespace(int) of 6.7.9, without its per-call array. */
  public static boolean isWhitespace(int c) {
    if (c <= 32) {
      return c == 32 || (c >= 9 && c <= 13);
    }
    if (c < 133) {
      return false;
    }
    return c == 133 || c == 160 || c == 5760 || (c >= 8192 && c <= 8202) || c == 8232 || c == 8233
        || c == 8239 || c == 8287 || c == 12288;
  }

  /**
   * If non-null, returns true if the value consists of only valid base64 characters (whitespace ignored) and
   * the count of them is a multiple of 4 (the original's rule, unchanged).
   */
  public static boolean isValidBase64(String theEncoded) {
    if (theEncoded == null) {
      return false;
    }
    int charCount = 0;
    boolean ok = true;
    for (int i = 0; i < theEncoded.length(); i++) {
      char nextChar = theEncoded.charAt(i);
      if (isWhitespace(nextChar)) {
        continue;
      }
      if (Character.isLetterOrDigit(nextChar)) {
        charCount++;
      }
      if (nextChar == '/' || nextChar == '=' || nextChar == '+') {
        charCount++;
      }
    }
    if (charCount > 0 && charCount % 4 != 0) {
      ok = false;
    }
    return ok;
  }

  public static boolean base64HasWhitespace(String theEncoded) {
    if (theEncoded == null) {
      return false;
    }
    for (int i = 0; i < theEncoded.length(); i++) {
      if (isWhitespace(theEncoded.charAt(i))) {
        return true;
      }
    }
    return false;
  }

  /** The number of bytes the value decodes to (the original's method, unchanged). */
  public static int countBase64DecodedBytes(String theEncoded) {
    try {
      Base64InputStream inputStream =
          new Base64InputStream(new ByteArrayInputStream(theEncoded.getBytes(StandardCharsets.UTF_8)));
      try {
        int counter = 0;
        while (inputStream.read() != -1) {
          counter++;
        }
        return counter;
      } finally {
        inputStream.close();
      }
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
