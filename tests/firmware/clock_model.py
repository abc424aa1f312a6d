"""Small models of each family's clock tree, to check a profile's set-up steps without the silicon.

`simulate(board)` runs the profile's `[[clock.setup]]` and `[[uart.setup]]` steps against a register file that
starts at the reference manual's reset values and reacts the way the hardware does where the steps rely on it
(a PLL locks when its input and VCO are in range, a ready flag follows its enable, SWS follows SW, a write to
PWR is lost while the PWR clock is off, VOS is frozen while the PLL runs). It fails with the step number when

- a wait polls for something the model never sets (on the board it would time out),
- the system clock is switched to a frequency that the flash wait states or the voltage range (over-drive,
  boost) set so far do not allow: they must come before the switch,
- a bus prescaler leaves a bus above its maximum,

and returns the core clock and the console UART's input clock after the last step. Only what the shipped
profiles use is modelled; anything else is a ModelError, not a guess. The numbers are the reference manuals'
(cited per model); the register addresses are those of the CMSIS device headers.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from tinyml.device.boards import Board, RegWrite

MHZ = 1_000_000


class ModelError(AssertionError):
    pass


@dataclass
class Result:
    core_hz: int
    uart_hz: int
    switched_at: int | None = None      # index in clock.setup of the system clock switch


class Family:
    """A register file with reset values; subclasses react to writes and compute the clocks."""

    reset: dict[int, int] = {}

    def __init__(self) -> None:
        self.regs = dict(self.reset)
        self.step = -1              # index into the clock steps followed by the UART steps
        self.label = ""             # the step as the profile names it
        self.since_switch_us = 0.0
        self.switched_at: int | None = None

    def read(self, addr: int) -> int:
        return self.regs.get(addr, 0)

    def write(self, addr: int, value: int) -> None:
        old = self.read(addr)
        self.regs[addr] = value
        self.react(addr, old, value)

    def delay(self, us: int) -> None:
        self.since_switch_us += us

    def fail(self, why: str) -> ModelError:
        return ModelError(f"step {self.step} ({self.label}): {why}")

    def react(self, addr: int, old: int, new: int) -> None:
        raise NotImplementedError

    def clocks(self, board: Board) -> tuple[int, int]:
        raise NotImplementedError


def _bit(value: int, n: int) -> bool:
    return bool(value >> n & 1)


def _set(value: int, n: int, on: bool) -> int:
    return value | 1 << n if on else value & ~(1 << n)


class Stm32F4F7(Family):
    """STM32F446 (RM0390) and STM32F746 (RM0385): the same RCC/PWR/FLASH layout.

    Main PLL: f = src / M * N / P, VCO input 1-2 MHz, VCO output 100-432 MHz. Flash: one wait state per 30 MHz
    at 2.7-3.6 V. Voltage scale 1 reaches `max_no_od` without over-drive and `max_od` with it."""

    RCC_CR, PLLCFGR, CFGR, APB1ENR = 0x40023800, 0x40023804, 0x40023808, 0x40023840
    PWR_CR, PWR_CSR, FLASH_ACR = 0x40007000, 0x40007004, 0x40023C00
    reset = {RCC_CR: 0x83, PLLCFGR: 0x24003010, CFGR: 0, APB1ENR: 0, PWR_CR: 0xC000, PWR_CSR: 0, FLASH_ACR: 0}
    HSI = 16 * MHZ
    APB_DIV = {0: 1, 4: 2, 5: 4, 6: 8, 7: 16}
    AHB_DIV = {0: 1, 8: 2, 9: 4, 10: 8, 11: 16, 12: 64, 13: 128, 14: 256, 15: 512}

    def __init__(self, hse_hz: int | None, max_no_od: int, max_od: int, apb1_max: int, apb2_max: int) -> None:
        super().__init__()
        self.hse_hz, self.max_no_od, self.max_od = hse_hz, max_no_od, max_od
        self.apb1_max, self.apb2_max = apb1_max, apb2_max

    def pll_out(self) -> int | None:
        cfg = self.read(self.PLLCFGR)
        src = self.hse_hz if _bit(cfg, 22) else self.HSI
        m, n, p = cfg & 0x3F, cfg >> 6 & 0x1FF, 2 * ((cfg >> 16 & 3) + 1)
        if src is None or not 2 <= m or not 50 <= n <= 432:
            return None
        if not 1 * MHZ <= src / m <= 2 * MHZ or not 100 * MHZ <= src / m * n <= 432 * MHZ:
            return None
        return src * n // m // p

    def sysclk(self, sw: int) -> int | None:
        return {0: self.HSI, 1: self.hse_hz, 2: self.pll_out()}.get(sw)

    def react(self, addr: int, old: int, new: int) -> None:
        if addr in (self.PWR_CR, self.PWR_CSR) and not _bit(self.read(self.APB1ENR), 28):
            self.regs[addr] = old       # PWR is not clocked: the write is lost
            return
        cr = self.read(self.RCC_CR)
        if addr == self.PWR_CR and (new ^ old) & 0xC000 and _bit(cr, 24):
            raise self.fail("VOS changed while the PLL runs (it only takes effect with the PLL off)")
        if addr == self.RCC_CR:
            cr = _set(cr, 17, _bit(cr, 16) and self.hse_hz is not None)
            cr = _set(cr, 25, _bit(cr, 24) and self.pll_out() is not None)
            self.regs[addr] = cr
        if addr == self.PWR_CR:
            csr = _set(self.read(self.PWR_CSR), 16, _bit(new, 16) and _bit(cr, 25))  # ODRDY needs the PLL on
            self.regs[self.PWR_CSR] = _set(csr, 17, _bit(new, 17) and _bit(csr, 16))
        if addr == self.CFGR:
            self.check_buses(new)
            if (new ^ old) & 3:
                self.switch(new & 3)

    def check_buses(self, cfgr: int) -> None:
        hclk = (self.sysclk(self.read(self.CFGR) >> 2 & 3) or 0) // self.AHB_DIV[cfgr >> 4 & 0xF]
        for name, shift, limit in (("APB1", 10, self.apb1_max), ("APB2", 13, self.apb2_max)):
            if hclk // self.APB_DIV[cfgr >> shift & 7] > limit:
                raise self.fail(f"{name} at {hclk // self.APB_DIV[cfgr >> shift & 7]} Hz, above {limit}")

    def switch(self, sw: int) -> None:
        f = self.sysclk(sw)
        if f is None or sw == 2 and not _bit(self.read(self.RCC_CR), 25):
            raise self.fail(f"SW = {sw} selects a clock that is not running")
        latency = self.read(self.FLASH_ACR) & 0xF
        needed = ceil(f / (30 * MHZ)) - 1
        if latency < needed:
            raise self.fail(f"switch to {f} Hz with {latency} flash wait states; {needed} needed before it")
        scale1 = self.read(self.PWR_CR) >> 14 & 3 == 3
        od = self.read(self.PWR_CSR) >> 16 & 3 == 3
        if f > (self.max_od if od else self.max_no_od) or f > self.max_no_od and not scale1:
            raise self.fail(f"switch to {f} Hz without voltage scale 1 and over-drive set up before it")
        self.regs[self.CFGR] = self.read(self.CFGR) & ~0xC | sw << 2
        self.switched_at = self.step
        self.check_buses(self.read(self.CFGR))

    def clocks(self, board: Board) -> tuple[int, int]:
        cfgr = self.read(self.CFGR)
        hclk = (self.sysclk(cfgr >> 2 & 3) or 0) // self.AHB_DIV[cfgr >> 4 & 0xF]
        apb1, apb2 = (hclk // self.APB_DIV[cfgr >> s & 7] for s in (10, 13))
        return hclk, {0x40004400: apb1, 0x40011000: apb2}[board.uart.base]   # USART2 on APB1, USART1 on APB2


class Stm32L4Plus(Family):
    """STM32L4R5 (RM0432). PLL: f = src / M * N / R, VCO input 2.66-16 MHz, output 64-344 MHz. Range 1 normal
    mode up to 80 MHz, boost (PWR_CR5.R1MODE = 0) up to 120 MHz; one flash wait state per 20 MHz in range 1.
    Going above 80 MHz: HPRE at /2 during the switch and for at least 1 us after it."""

    RCC_CR, CFGR, PLLCFGR, APB1ENR1 = 0x40021000, 0x40021008, 0x4002100C, 0x40021058
    PWR_CR1, PWR_CR5, FLASH_ACR = 0x40007000, 0x40007080, 0x40022000
    reset = {RCC_CR: 0x63, CFGR: 0, PLLCFGR: 0x1000, APB1ENR1: 0, PWR_CR1: 0x200, PWR_CR5: 0x100, FLASH_ACR: 0x600}
    MSI = 4 * MHZ   # MSIRANGE 6 at reset
    AHB_DIV = Stm32F4F7.AHB_DIV
    APB_DIV = Stm32F4F7.APB_DIV

    def pll_out(self) -> int | None:
        cfg = self.read(self.PLLCFGR)
        src = {1: self.MSI, 2: 16 * MHZ}.get(cfg & 3)
        m, n, r = (cfg >> 4 & 0xF) + 1, cfg >> 8 & 0x7F, 2 * ((cfg >> 25 & 3) + 1)
        if src is None or not _bit(cfg, 24) or not 8 <= n <= 127:
            return None
        if not 2.66 * MHZ <= src / m <= 16 * MHZ or not 64 * MHZ <= src / m * n <= 344 * MHZ:
            return None
        return src * n // m // r

    def react(self, addr: int, old: int, new: int) -> None:
        if addr in (self.PWR_CR1, self.PWR_CR5) and not _bit(self.read(self.APB1ENR1), 28):
            self.regs[addr] = old
            return
        if addr == self.RCC_CR:
            self.regs[addr] = _set(new, 25, _bit(new, 24) and self.pll_out() is not None)
        if addr == self.CFGR:
            if (new ^ old) & 3:
                self.switch(new)
            elif (new ^ old) & 0xF0 and self.switched_at is not None and self.AHB_DIV[new >> 4 & 0xF] == 1:
                if self.since_switch_us < 1:
                    raise self.fail("HPRE back to /1 less than 1 us after the switch above 80 MHz")

    def switch(self, cfgr: int) -> None:
        if cfgr & 3 != 3 or not _bit(self.read(self.RCC_CR), 25):
            raise self.fail("SW selects a clock this model does not run (only a locked PLL)")
        f = self.pll_out() or 0
        boost = not _bit(self.read(self.PWR_CR5), 8)
        range1 = self.read(self.PWR_CR1) >> 9 & 3 == 1
        if not range1 or f > (120 if boost else 80) * MHZ:
            raise self.fail(f"switch to {f} Hz without range 1{' boost' if f > 80 * MHZ else ''} set before it")
        if f > 80 * MHZ and self.AHB_DIV[cfgr >> 4 & 0xF] < 2:
            raise self.fail("switch above 80 MHz with HPRE at /1 (the manual asks for /2 first)")
        latency, needed = self.read(self.FLASH_ACR) & 0xF, ceil(f / (20 * MHZ)) - 1
        if latency < needed:
            raise self.fail(f"switch to {f} Hz with {latency} flash wait states; {needed} needed before it")
        self.regs[self.CFGR] = cfgr & ~0xC | 0xC
        self.switched_at, self.since_switch_us = self.step, 0.0

    def clocks(self, board: Board) -> tuple[int, int]:
        cfgr = self.read(self.CFGR)
        sysclk = self.pll_out() if cfgr >> 2 & 3 == 3 else self.MSI
        hclk = (sysclk or 0) // self.AHB_DIV[cfgr >> 4 & 0xF]
        return hclk, hclk // self.APB_DIV[cfgr >> 8 & 7]   # LPUART1 on PCLK1 (LPUART1SEL = 00)


class Stm32U5(Family):
    """STM32U575 (RM0456). PLL1: f = src / M * N / R, input 4-16 MHz, VCO 128-544 MHz. Voltage ranges 1/2/3/4
    reach 160/110/55/25 MHz; flash wait states in range 1: one per 32 MHz. The EPOD booster (needed above
    55 MHz, as ST's HAL and OpenOCD enable it) takes PLL1's source / PLL1MBOOST, which must be 4-16 MHz."""

    RCC_CR, CFGR1, CFGR2, PLL1CFGR, PLL1DIVR, AHB3ENR = (0x46020C00, 0x46020C1C, 0x46020C20, 0x46020C28,
                                                         0x46020C34, 0x46020C94)
    PWR_CR3, PWR_VOSR, PWR_SVMSR, FLASH_ACR = 0x46020808, 0x4602080C, 0x4602083C, 0x40022000
    reset = {RCC_CR: 0x5, CFGR1: 0, CFGR2: 0, PLL1CFGR: 0, PLL1DIVR: 0x01010280, AHB3ENR: 0, PWR_CR3: 0,
             PWR_VOSR: 0x8000, PWR_SVMSR: 0, FLASH_ACR: 0}
    MSIS = 4 * MHZ
    RANGE_MAX = {3: 160 * MHZ, 2: 110 * MHZ, 1: 55 * MHZ, 0: 25 * MHZ}    # VOS field value -> maximum
    WS_STEP = {3: 32 * MHZ, 2: 30 * MHZ, 1: 24 * MHZ, 0: 12 * MHZ}

    def pll_src(self) -> int | None:
        return {1: self.MSIS, 2: 16 * MHZ}.get(self.read(self.PLL1CFGR) & 3)

    def pll_out(self) -> int | None:
        cfg, div, src = self.read(self.PLL1CFGR), self.read(self.PLL1DIVR), self.pll_src()
        m, n, r = (cfg >> 8 & 0xF) + 1, (div & 0x1FF) + 1, (div >> 24 & 0x7F) + 1
        wide = cfg >> 2 & 3 == 3   # PLL1RGE 11: 8-16 MHz input; 00, 01, 10: 4-8 MHz
        if src is None or not _bit(cfg, 18):
            return None
        ref = src / m
        if not (8 * MHZ <= ref <= 16 * MHZ if wide else 4 * MHZ <= ref <= 8 * MHZ):
            return None
        if not 128 * MHZ <= ref * n <= 544 * MHZ:
            return None
        return int(ref * n) // r

    def react(self, addr: int, old: int, new: int) -> None:
        if addr in (self.PWR_CR3, self.PWR_VOSR) and not _bit(self.read(self.AHB3ENR), 2):
            self.regs[addr] = old
            return
        if addr == self.PWR_CR3:
            self.regs[self.PWR_SVMSR] = _set(self.read(self.PWR_SVMSR), 1, _bit(new, 1))
        if addr == self.PWR_VOSR:
            code = self.read(self.PLL1CFGR) >> 12 & 0xF          # PLL1MBOOST: 0 -> /1, n -> /2n
            src, mboost = self.pll_src(), 2 * code if code else 1
            boost_ok = _bit(new, 18) and src is not None and 4 * MHZ <= src / mboost <= 16 * MHZ
            self.regs[addr] = _set(_set(new, 15, True), 14, boost_ok and new >> 16 & 3 >= 2)
        if addr == self.RCC_CR:
            self.regs[addr] = _set(new, 25, _bit(new, 24) and self.pll_out() is not None)
        if addr == self.CFGR1 and (new ^ old) & 3:
            self.switch(new)

    def switch(self, cfgr1: int) -> None:
        if cfgr1 & 3 != 3 or not _bit(self.read(self.RCC_CR), 25):
            raise self.fail("SW selects a clock this model does not run (only a locked PLL1)")
        f, vosr = self.pll_out() or 0, self.read(self.PWR_VOSR)
        vos = vosr >> 16 & 3
        if f > self.RANGE_MAX[vos] or f > 55 * MHZ and not _bit(vosr, 14):
            raise self.fail(f"switch to {f} Hz without voltage range and EPOD boost set before it")
        latency, needed = self.read(self.FLASH_ACR) & 0xF, ceil(f / self.WS_STEP[vos]) - 1
        if latency < needed:
            raise self.fail(f"switch to {f} Hz with {latency} flash wait states; {needed} needed before it")
        self.regs[self.CFGR1] = cfgr1 & ~0xC | 0xC
        self.switched_at = self.step

    def clocks(self, board: Board) -> tuple[int, int]:
        sysclk = self.pll_out() if self.read(self.CFGR1) >> 2 & 3 == 3 else self.MSIS
        cfgr2 = self.read(self.CFGR2)
        hclk = (sysclk or 0) // Stm32F4F7.AHB_DIV[cfgr2 & 0xF]
        return hclk, hclk // Stm32F4F7.APB_DIV[cfgr2 >> 8 & 7]   # USART1 on PCLK2 (USART1SEL = 00)


class Nrf(Family):
    """nRF51 / nRF52840: the CPU clock is fixed (16 / 64 MHz); HFCLKSTART starts the crystal and raises
    EVENTS_HFCLKSTARTED. The UART's baud generator runs from the 16 MHz HFCLK either way; the model asks that
    the crystal be running (and, on the nRF51, declared 16 MHz in XTALFREQ) so its baud rate is accurate."""

    TASKS_HFCLKSTART, EVENTS_HFCLKSTARTED, XTALFREQ = 0x40000000, 0x40000100, 0x40000550

    def __init__(self, core_hz: int, xtalfreq: int | None) -> None:
        self.reset = {self.XTALFREQ: 0xFFFFFFFF} if xtalfreq is not None else {}
        super().__init__()
        self.core_hz, self.xtalfreq, self.started = core_hz, xtalfreq, False

    def react(self, addr: int, old: int, new: int) -> None:
        if addr == self.TASKS_HFCLKSTART and new & 1:
            self.regs[self.EVENTS_HFCLKSTARTED], self.started = 1, True

    def clocks(self, board: Board) -> tuple[int, int]:
        if not self.started:
            raise ModelError("the crystal oscillator (HFXO) is never started")
        if self.xtalfreq is not None and self.read(self.XTALFREQ) & 0xFF != self.xtalfreq:
            raise ModelError(f"XTALFREQ does not declare the board's crystal ({self.xtalfreq:#x})")
        return self.core_hz, 16 * MHZ


class Rp2040(Family):
    """RP2040 (datasheet sections 2.15 clocks, 2.16 XOSC, 2.18 PLL). PLL: f = ref / REFDIV * FBDIV / (POSTDIV1 *
    POSTDIV2), reference >= 5 MHz, VCO 750-1600 MHz, FBDIV 16-320. clk_sys's aux mux may only change while SRC is
    clk_ref (it is not glitchless). Before `clk_sys` runs from PLL_SYS it comes from clk_ref (ROSC or XOSC)."""

    XOSC_CTRL, XOSC_STATUS, XOSC_STARTUP = 0x40024000, 0x40024004, 0x4002400C
    CLK_REF_CTRL, CLK_REF_SELECTED, CLK_SYS_CTRL, CLK_SYS_SELECTED = 0x40008030, 0x40008038, 0x4000803C, 0x40008044
    CLK_PERI_CTRL = 0x40008048
    RESET, RESET_CLR, RESET_DONE = 0x4000C000, 0x4000F000, 0x4000C008
    PLL_CS, PLL_PWR, PLL_FBDIV, PLL_PRIM = 0x40028000, 0x40028004, 0x40028008, 0x4002800C
    PLL_SYS_RESET = 1 << 12
    reset = {CLK_REF_SELECTED: 1, CLK_SYS_SELECTED: 1, RESET: 0x01FFFFFF, RESET_DONE: 0, PLL_CS: 1,
             PLL_PWR: 0x2D, PLL_FBDIV: 0, PLL_PRIM: 0x77000, CLK_SYS_CTRL: 0}
    XOSC = 12 * MHZ
    ROSC = 6 * MHZ   # nominal

    def vco(self) -> float | None:
        cs, fb = self.read(self.PLL_CS), self.read(self.PLL_FBDIV)
        ref = self.XOSC / (cs & 0x3F or 1)
        if self.read(self.RESET) & self.PLL_SYS_RESET or self.read(self.PLL_PWR) & 0x21 or not 16 <= fb <= 320:
            return None
        if not _bit(self.read(self.XOSC_STATUS), 31) or ref < 5 * MHZ or not 750 * MHZ <= ref * fb <= 1600 * MHZ:
            return None
        return ref * fb

    def pll_out(self) -> int | None:
        vco, prim = self.vco(), self.read(self.PLL_PRIM)
        if vco is None or _bit(self.read(self.PLL_PWR), 3):
            return None
        return int(vco) // ((prim >> 16 & 7) * (prim >> 12 & 7))

    def clk_ref(self) -> int:
        return self.XOSC if self.read(self.CLK_REF_CTRL) & 3 == 2 else self.ROSC

    def react(self, addr: int, old: int, new: int) -> None:
        if addr == self.XOSC_CTRL:
            on = new >> 12 & 0xFFF == 0xFAB and new & 0xFFF == 0xAA0 and self.read(self.XOSC_STARTUP) > 0
            self.regs[self.XOSC_STATUS] = _set(self.read(self.XOSC_STATUS), 31, on)
        if addr == self.RESET_CLR:
            self.regs[self.RESET] = self.read(self.RESET) & ~new
            self.regs[self.RESET_DONE] = ~self.read(self.RESET) & 0x01FFFFFF
            del self.regs[addr]
        if addr == self.CLK_REF_CTRL:
            if new & 3 == 2 and not _bit(self.read(self.XOSC_STATUS), 31):
                raise self.fail("clk_ref switched to the XOSC before it is stable")
            self.regs[self.CLK_REF_SELECTED] = 1 << (new & 3)
        if addr in (self.PLL_CS, self.PLL_PWR, self.PLL_FBDIV, self.PLL_PRIM):
            self.regs[self.PLL_CS] = _set(self.read(self.PLL_CS), 31, self.vco() is not None)
        if addr == self.CLK_SYS_CTRL:
            if (new ^ old) & 0xE0 and old & 1:
                raise self.fail("clk_sys AUXSRC changed while SRC selects the aux mux (not glitchless)")
            if new & 1 and self.pll_out() is None and new >> 5 & 7 == 0:
                raise self.fail("clk_sys switched to PLL_SYS before it is locked and its post dividers are on")
            self.regs[self.CLK_SYS_SELECTED] = 1 << (new & 1)
            self.switched_at = self.step

    def clocks(self, board: Board) -> tuple[int, int]:
        ctrl = self.read(self.CLK_SYS_CTRL)
        clk_sys = (self.pll_out() or 0) if ctrl & 1 and ctrl >> 5 & 7 == 0 else self.clk_ref()
        peri = self.read(self.CLK_PERI_CTRL)
        if not _bit(peri, 11) or peri >> 5 & 7 != 0:
            raise ModelError("clk_peri (the UART's clock) is not enabled from clk_sys")
        if self.read(self.RESET) & (1 << 22):
            raise ModelError("UART0 is left in reset")
        return clk_sys, clk_sys


def family(board: Board) -> Family:
    """The model for a board's MCU."""
    mcu = board.mcu
    if mcu.startswith("STM32F446"):
        return Stm32F4F7(hse_hz=None, max_no_od=168 * MHZ, max_od=180 * MHZ, apb1_max=45 * MHZ, apb2_max=90 * MHZ)
    if mcu.startswith("STM32F746"):   # HSE: the board's 25 MHz crystal (UM1907)
        return Stm32F4F7(hse_hz=25 * MHZ, max_no_od=180 * MHZ, max_od=216 * MHZ, apb1_max=54 * MHZ,
                         apb2_max=108 * MHZ)
    if mcu.startswith("STM32L4R5"):
        return Stm32L4Plus()
    if mcu.startswith("STM32U575"):
        return Stm32U5()
    if mcu == "nRF52840":
        return Nrf(core_hz=64 * MHZ, xtalfreq=None)
    if mcu.startswith("nRF51"):
        return Nrf(core_hz=16 * MHZ, xtalfreq=0xFF)
    if mcu == "RP2040":
        return Rp2040()
    raise ModelError(f"no clock model for {mcu}")


def simulate(board: Board) -> Result:
    """Run the board's clock and UART steps through its family's model."""
    model = family(board)
    steps: list[RegWrite] = [*(board.clock.setup if board.clock else ()), *board.uart.setup]
    clock_steps = len(steps) - len(board.uart.setup)
    for i, step in enumerate(steps):
        model.step = i
        model.label = f"clock.setup[{i}]" if i < clock_steps else f"uart.setup[{i - clock_steps}]"
        if step.delay_us:
            model.delay(step.delay_us)
        elif step.wait:
            if model.read(step.reg) & (step.mask or 0) != step.value:
                raise model.fail(f"waits for ({step.reg:#010x} & {step.mask:#x}) == {step.value:#x}, which the "
                                 "model never sets: it would time out on the board")
        elif step.mask is None:
            model.write(step.reg, step.value)
        else:
            model.write(step.reg, model.read(step.reg) & ~step.mask | step.value)
    core_hz, uart_hz = model.clocks(board)
    return Result(core_hz=core_hz, uart_hz=uart_hz, switched_at=model.switched_at)
