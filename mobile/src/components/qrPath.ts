import qrcode from 'qrcode-generator';

const QUIET_ZONE = 4; // modules of white around the code, as the QR spec asks

/** One SVG path with a unit square per dark module; undefined when the value cannot be encoded. */
export function qrPath(value: string): { d: string; extent: number } | undefined {
  try {
    const qr = qrcode(0, 'M');
    qr.addData(utf8Binary(value), 'Byte');
    qr.make();
    const n = qr.getModuleCount();
    let d = '';
    for (let row = 0; row < n; row++) {
      for (let col = 0; col < n; col++) if (qr.isDark(row, col)) d += `M${col + QUIET_ZONE} ${row + QUIET_ZONE}h1v1h-1z`;
    }
    return { d, extent: n + 2 * QUIET_ZONE };
  } catch {
    // qrcode-generator throws when the data exceeds the largest code (about 2.3 kB at level M).
    return undefined;
  }
}

/** The UTF-8 bytes of `s` as a binary string, which is what Byte mode encodes. */
function utf8Binary(s: string): string {
  let out = '';
  for (const b of new TextEncoder().encode(s)) out += String.fromCharCode(b);
  return out;
}
