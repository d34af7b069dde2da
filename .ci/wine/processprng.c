/* Test-only stand-in for bcryptprimitives.dll under Wine 8.0, which lacks the
 * ProcessPrng export that Go 1.24+ programs import for crypto/rand: forward it
 * to RtlGenRandom (advapi32!SystemFunction036). Never shipped with mcpwrap. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
